//go:build rack

package service

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// orphanReaper makes the test process the child subreaper of what it
// starts and reaps the orphans that reach it: the VMMs of a killed
// appliance, which on a real host are reparented to an init that reaps
// them (systemd, or the appliance itself as PID 1). Without it they go to
// this host's PID 1, which may leave them unreaped, and an exited VMM's
// zombie keeps its cgroup populated so that the next appliance cannot
// remove it. The appliances the test started are not touched: os/exec
// waits for those.
type orphanReaper struct {
	mu   sync.Mutex
	mine map[int]bool // guarded by mu: pids os/exec waits for
	sigc chan os.Signal
	done chan struct{}
}

// startOrphanReaper sets up the subreaper until the end of the test.
func startOrphanReaper(t *testing.T) *orphanReaper {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become child subreaper: %v", err)
	}
	o := &orphanReaper{mine: map[int]bool{}, sigc: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(o.sigc, syscall.SIGCHLD)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-o.done:
				o.reap()
				return
			case <-o.sigc:
				o.reap()
			}
		}
	}()
	t.Cleanup(func() {
		signal.Stop(o.sigc)
		close(o.done)
		<-exited
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
	return o
}

// reap waits for every exited child of this process that is not its own.
func (o *orphanReaper) reap() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || !bytes.Contains(st, []byte("\nState:\tZ")) || !bytes.Contains(st, []byte(fmt.Sprintf("\nPPid:\t%d\n", self))) {
			continue
		}
		o.mu.Lock()
		mine := o.mine[pid]
		o.mu.Unlock()
		if !mine {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}
