package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// helperEnv selects a helper mode of the test binary (see TestMain).
const helperEnv = "IRONVISOR_SUPERVISOR_HELPER"

// TestMain runs the test binary as a helper process when helperEnv says so:
//
//	sleep                       wait for SIGTERM (a harmless long-lived jailed process)
//	sleep-jailed                a stand-in VMM: enter the jail, sleep until killed
//	launch STATE CGROUP ID MODE jail.Start this binary in MODE (sleep or exit)
//	                            in the supervisor's layout, then exit without
//	                            waiting for a sleeper: it outlives its
//	                            launcher, as a VMM outlives the appliance
//	supervise STATE CGROUP BIN KERNEL LOG ID
//	                            start a real VMM through a Supervisor and
//	                            exit, leaving it running (an appliance that
//	                            goes away)
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "sleep":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		os.Exit(0)
	case "exit":
		os.Exit(3)
	case "sleep-jailed":
		if err := sleepJailed(); err != nil {
			fmt.Fprintln(os.Stderr, "sleep-jailed:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "supervise":
		if err := supervise(os.Args[len(os.Args)-6:]); err != nil {
			fmt.Fprintln(os.Stderr, "supervise:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "launch":
		if err := launch(os.Args[len(os.Args)-4:]); err != nil {
			fmt.Fprintln(os.Stderr, "launch:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(2)
}

// launch starts this binary jailed as VM id in the layout a Supervisor
// with StateDir and CgroupParent uses.
func launch(a []string) error {
	state, cgroup, id, mode := a[0], a[1], a[2], a[3]
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(state, "vmm", id), 0o700); err != nil {
		return err
	}
	cmd, err := jail.Start(jail.Spec{
		ID: id, Path: self, UID: 65534, GID: 65534,
		StateDir: filepath.Join(state, "jail"), CgroupParent: cgroup,
		Env: []string{helperEnv + "=" + mode},
	})
	if err != nil {
		return err
	}
	if mode == "exit" {
		cmd.Wait() // leave the jail behind with no process in it
	}
	return nil
}

// supervise starts instance id through a Supervisor and returns.
func supervise(a []string) error {
	state, cgroup, bin, kernel, log, id := a[0], a[1], a[2], a[3], a[4], a[5]
	s, err := New(Options{StateDir: state, CgroupParent: cgroup, Binary: bin, UID: 65534, GID: 65534, Unlimited: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.Start(ctx, RunSpec{ID: id, VCPUs: 1, MemBytes: 16 << 20, Kernel: kernel, Cmdline: "console=ttyS0", ConsoleLog: log})
}

// runHelper runs the test binary in helper mode with args and waits for it.
func runHelper(t *testing.T, mode string, args ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %s %v: %v\n%s", mode, args, err, b)
	}
}

// needJail skips unless jails can be started here: root and a cgroup v2
// mount. It returns a fresh cgroup parent, removed at the end.
func needJail(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: jails need root")
	}
	mnt, err := jail.CgroupMount()
	if err != nil {
		t.Skipf("SKIP: no cgroup v2 mount: %v", err)
	}
	parent := filepath.Join(mnt, fmt.Sprintf("ironvisor-suptest-%d", os.Getpid()))
	t.Cleanup(func() { os.Remove(parent) })
	return parent
}
