package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// Reattach adopts the VMMs a previous appliance run left running: every
// jail directory whose cgroup still holds a process. It watches each
// adopted VMM's end through a pidfd (they are no longer its children) and
// returns their ids. Jails without a live process are cleaned up (cgroup,
// root directory and control socket) and OnExit is not called for them.
func (s *Supervisor) Reattach(ctx context.Context) ([]string, error) {
	ids, err := jail.List(s.opt.jailDir())
	if err != nil {
		return nil, fmt.Errorf("reattach: %w", err)
	}
	var adopted []string
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return adopted, fmt.Errorf("reattach: %w", ctx.Err())
		}
		if s.lookup(id) != nil {
			continue
		}
		ok, err := s.adopt(id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			adopted = append(adopted, id)
			continue
		}
		if err := jail.Cleanup(s.opt.jailSpec(id)); err != nil {
			errs = append(errs, err)
		}
		os.Remove(s.opt.socket(id))
	}
	if err := errors.Join(errs...); err != nil {
		return adopted, fmt.Errorf("reattach: %w", err)
	}
	return adopted, nil
}

// adopt starts watching the VMM in id's cgroup, if there is one.
func (s *Supervisor) adopt(id string) (bool, error) {
	leaf, err := s.leaf(id)
	if err != nil {
		return false, err
	}
	pids := cgroupPIDs(leaf)
	if len(pids) == 0 {
		return false, nil
	}
	// The VMM is the only process of its cgroup: jail starts it there and
	// it forks nothing.
	pidfd, err := unix.PidfdOpen(pids[0], 0)
	if err != nil {
		return false, nil // it ended since we read cgroup.procs
	}
	// Guard against pid reuse between reading cgroup.procs and the open.
	if again := cgroupPIDs(leaf); len(again) == 0 || again[0] != pids[0] {
		unix.Close(pidfd)
		return false, nil
	}
	inst := &instance{id: id, done: make(chan struct{})}
	inst.kill = func() error { return ignoreGone(unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)) }
	s.mu.Lock()
	s.live[id] = inst
	s.mu.Unlock()
	go s.watchPidfd(inst, pidfd)
	return true, nil
}

// watchPidfd waits for the process behind pidfd to end, then finishes
// inst. A pidfd becomes readable when its process exits (pidfd_open(2)).
func (s *Supervisor) watchPidfd(inst *instance, pidfd int) {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil && fds[0].Revents != 0 {
			break
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	unix.Close(pidfd)
	s.finish(inst, exitStatus{})
}

// leaf returns the cgroup directory of id.
func (s *Supervisor) leaf(id string) (string, error) {
	parent := s.opt.CgroupParent
	if parent == "" {
		mnt, err := jail.CgroupMount()
		if err != nil {
			return "", err
		}
		parent = filepath.Join(mnt, jail.DefaultCgroupName)
	}
	return filepath.Join(parent, id), nil
}

// cgroupPIDs lists the processes in the cgroup leaf (none if it is gone).
func cgroupPIDs(leaf string) []int {
	b, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil && p > 0 {
			pids = append(pids, p)
		}
	}
	return pids
}
