// Package reaper collects zombie processes for PID 1 without stealing the
// exit status of the children the appliance waits for itself. Code that
// starts processes (VMMs, helpers) goes through a Starter: on the appliance
// that is the PID 1 *Reaper, in service mode Direct.
package reaper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Starter starts and waits for child processes. Use it instead of
// cmd.Start and cmd.Wait so that PID 1's reaper leaves the children alone.
type Starter interface {
	Start(cmd *exec.Cmd) error
	Wait(cmd *exec.Cmd) error
}

// Direct is the Starter for a process that is not PID 1 and runs no
// reaper: it calls cmd.Start and cmd.Wait.
type Direct struct{}

// Start calls cmd.Start.
func (Direct) Start(cmd *exec.Cmd) error { return cmd.Start() }

// Wait calls cmd.Wait.
func (Direct) Wait(cmd *exec.Cmd) error { return cmd.Wait() }

// Reaper collects zombie children (orphans re-parented to PID 1) without
// stealing the exit status of children the appliance waits for itself: it
// reaps only zombies whose pid was not registered through Start, found by
// scanning the process table, and never calls wait4(-1).
type Reaper struct {
	procRoot string

	mu    sync.Mutex
	owned map[int]bool // guarded by mu: pids started with Start, not yet waited
}

// New returns a reaper that reads the process table in procRoot
// (normally /proc).
func New(procRoot string) *Reaper {
	return &Reaper{procRoot: procRoot, owned: map[int]bool{}}
}

// Start starts cmd and registers its pid before any reap can run, so that
// Reap leaves it to Wait.
func (r *Reaper) Start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.owned[cmd.Process.Pid] = true
	return nil
}

// Wait waits for a command started with Start and forgets its pid.
func (r *Reaper) Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	r.mu.Lock()
	delete(r.owned, cmd.Process.Pid)
	r.mu.Unlock()
	return err
}

// Reap collects every zombie child of this process that was not started
// with Start, and returns how many it collected.
func (r *Reaper) Reap() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entries, err := os.ReadDir(r.procRoot)
	if err != nil {
		return 0, fmt.Errorf("reap: %w", err)
	}
	self, n := os.Getpid(), 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || r.owned[pid] {
			continue
		}
		state, ppid, ok := readStat(filepath.Join(r.procRoot, e.Name(), "stat"))
		if !ok || state != 'Z' || ppid != self {
			continue
		}
		var ws unix.WaitStatus
		if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
			n++
		}
	}
	return n, nil
}

// readStat returns the state and parent pid from a /proc/PID/stat file:
// "pid (comm) S ppid ...", where comm may itself hold spaces and ')'.
func readStat(path string) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, err == nil
}

// Run reaps on every SIGCHLD, and every interval in case signals were
// coalesced, until ctx ends.
func (r *Reaper) Run(ctx context.Context, interval time.Duration, logf func(string, ...any)) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Reap(); err != nil && !errors.Is(err, context.Canceled) {
			logf("%v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-t.C:
		}
	}
}
