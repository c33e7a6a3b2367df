package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Start creates the VM's root directory and cgroup and starts the VMM in
// fresh mount, PID, IPC, UTS and network namespaces, inside its cgroup from
// the first instruction (CLONE_INTO_CGROUP). The returned command is
// running; the caller must Wait for it and then call Cleanup.
//
// Start refuses an ID whose root directory or cgroup already exists: call
// Cleanup first for a VM left over from a previous run.
func Start(spec Spec) (*exec.Cmd, error) {
	s, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, ErrNotRoot)
	}
	parent, err := cgroupParent(s)
	if err != nil {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	root := rootDir(s.StateDir, s.ID)
	if err := os.MkdirAll(filepath.Dir(root), 0o700); err != nil {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, fmt.Errorf("start jail %s: create root: %w", s.ID, err)
	}
	cmd, err := startIn(s, parent, root)
	if err != nil {
		os.RemoveAll(filepath.Dir(root))
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	return cmd, nil
}

// startIn creates the cgroup leaf and starts the child in it.
func startIn(s Spec, parent, root string) (*exec.Cmd, error) {
	leaf, err := createLeaf(s, parent)
	if err != nil {
		return nil, err
	}
	cg, err := os.Open(leaf)
	if err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	defer cg.Close()
	cfg, err := json.Marshal(childConfig{
		ID: s.ID, Root: root, UID: s.UID, GID: s.GID,
		Devices: s.Devices, Layout: layoutOf(s.Files),
	})
	if err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("encode child config: %w", err)
	}
	cmd := &exec.Cmd{
		Path:       s.Path,
		Args:       append([]string{"ironvisor-vmm"}, s.Args...),
		Env:        append(append([]string(nil), s.Env...), envConfig+"="+string(cfg)),
		Stdin:      s.Stdin,
		Stdout:     s.Stdout,
		Stderr:     s.Stderr,
		ExtraFiles: s.Files.extra(),
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
				syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
			UseCgroupFD: true,
			CgroupFD:    int(cg.Fd()),
			Setsid:      true,
		},
	}
	start := s.StartCmd
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := startBounded(cmd, start); err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("exec %s: %w", s.Path, err)
	}
	return cmd, nil
}

// enterCaps are the capabilities Enter needs before it drops privileges:
// mounts, pivot_root and sethostname; chroot (the rootfs fallback);
// setgroups/setresgid/setresuid; and dropping them from the bounding set.
var enterCaps = map[uintptr]bool{
	unix.CAP_SYS_ADMIN: true, unix.CAP_SYS_CHROOT: true,
	unix.CAP_SETGID: true, unix.CAP_SETUID: true, unix.CAP_SETPCAP: true,
}

// startBounded starts cmd with start from a thread whose capability bounding set holds
// only enterCaps, so the child (and every thread it ever has) starts with
// that bounding set, and Enter has only those few to drop on all threads.
// The thread is then unusable for anything else: its goroutine exits still
// locked, so the Go runtime ends the thread.
func startBounded(cmd *exec.Cmd, start func(*exec.Cmd) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		for c := uintptr(0); c <= 63; c++ {
			if enterCaps[c] {
				continue
			}
			_, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
			if e == unix.EINVAL {
				break // past CAP_LAST_CAP
			}
			if e != 0 {
				errc <- fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
				return
			}
		}
		errc <- start(cmd)
	}()
	return <-errc
}

// rootDir is where the VM's root lives on the host.
func rootDir(stateDir, id string) string {
	return filepath.Join(stateDir, id, "root")
}

// Cleanup removes what Start created for spec.ID, using only spec's ID,
// StateDir and CgroupParent: it kills any process still in the VM's cgroup,
// removes the cgroup and removes StateDir/ID. It is idempotent, so an
// appliance can call it for every id List returns after a restart.
func Cleanup(spec Spec) error {
	if !ValidID(spec.ID) {
		return fmt.Errorf("jail: invalid VM id %q", spec.ID)
	}
	stateDir := spec.StateDir
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	var errs []error
	if parent, err := cgroupParent(spec); err != nil {
		errs = append(errs, err)
	} else if err := removeLeaf(filepath.Join(parent, spec.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Join(stateDir, spec.ID)); err != nil {
		errs = append(errs, fmt.Errorf("remove root: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up jail %s: %w", spec.ID, err)
	}
	return nil
}

// List returns the ids that have a directory in stateDir (empty means
// DefaultStateDir): VMs running or left over from a previous run.
func List(stateDir string) ([]string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	ents, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list jails: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
