package reaper

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// waitZombie blocks until pid has exited, without reaping it.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			return
		}
		if !errors.Is(err, unix.EINTR) {
			t.Fatalf("waitid %d: %v", pid, err)
		}
	}
}

func TestReaperReapsOrphansButNotOwnedChildren(t *testing.T) {
	// A child nobody waits for: what an orphan re-parented to PID 1 is.
	stray, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 0"}, &syscall.ProcAttr{})
	if err != nil {
		t.Skipf("SKIP: cannot start /bin/sh: %v", err)
	}
	r := New("/proc")
	owned := exec.Command("/bin/sh", "-c", "exit 3")
	if err := r.Start(owned); err != nil {
		t.Fatal(err)
	}
	waitZombie(t, stray)
	waitZombie(t, owned.Process.Pid)

	n, err := r.Reap()
	if err != nil || n < 1 {
		t.Fatalf("Reap = %d, %v; want the stray child reaped", n, err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(stray)); !os.IsNotExist(err) {
		t.Errorf("stray child %d still in the process table (%v)", stray, err)
	}
	err = r.Wait(owned)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("owned child's Wait = %v, want exit status 3 (the reaper must not steal it)", err)
	}
	if len(r.owned) != 0 {
		t.Errorf("owned pids left: %v", r.owned)
	}
}

func TestReadStat(t *testing.T) {
	path := t.TempDir() + "/stat"
	os.WriteFile(path, []byte("1234 (a) b (c)) Z 1 1234 1234 0 -1\n"), 0o644)
	state, ppid, ok := readStat(path)
	if !ok || state != 'Z' || ppid != 1 {
		t.Errorf("readStat = %c %d %v", state, ppid, ok)
	}
	for _, bad := range []string{"", "12 (x", "12 (x) ", "12 (x) ZZ 1", "12 (x) Z nope"} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, _, ok := readStat(path); ok {
			t.Errorf("readStat(%q) ok", bad)
		}
	}
}

func TestDirectStarter(t *testing.T) {
	var s Starter = Direct{}
	cmd := exec.Command("/bin/sh", "-c", "exit 4")
	if err := s.Start(cmd); err != nil {
		t.Skipf("SKIP: cannot start /bin/sh: %v", err)
	}
	var ee *exec.ExitError
	if err := s.Wait(cmd); !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Errorf("Wait = %v, want exit status 4", err)
	}
	var _ Starter = (*Reaper)(nil)
}
