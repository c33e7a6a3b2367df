package supervisor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// exitEvent is one OnExit call.
type exitEvent struct {
	id, reason string
	crashed    bool
}

// newSup returns a supervisor on a temporary state dir whose OnExit calls
// go to the returned channel.
func newSup(t *testing.T, cgroup string, mod func(*Options)) (*Supervisor, chan exitEvent, string) {
	t.Helper()
	state := t.TempDir()
	events := make(chan exitEvent, 8)
	opt := Options{StateDir: state, UID: 65534, GID: 65534, CgroupParent: cgroup, Unlimited: true,
		OnExit: func(id, reason string, crashed bool) { events <- exitEvent{id, reason, crashed} }}
	if mod != nil {
		mod(&opt)
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return s, events, state
}

// nextExit waits for an OnExit call.
func nextExit(t *testing.T, events <-chan exitEvent) exitEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no OnExit within 30s")
	}
	return exitEvent{}
}

// buildIronvisor compiles the real VMM binary the supervisor runs
// (cmd/ironvisor-vmm) into dir, or returns $IRONVISOR_BIN when set (a
// binary built elsewhere).
func buildIronvisor(t *testing.T, dir string) string {
	t.Helper()
	if p := os.Getenv("IRONVISOR_BIN"); p != "" {
		return p
	}
	out := filepath.Join(dir, VMMBinaryName)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "github.com/ironvisor/ironvisor/cmd/ironvisor-vmm")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ironvisor: %v\n%s", err, b)
	}
	return out
}

// TestStartReportsVMMError starts the real `ironvisor vmm run` in its jail
// with /dev/null as its KVM device (this host has no /dev/kvm): the VMM
// must fail with its own clear message, Start must return it, OnExit must
// report a crash with it, and the jail must be gone.
func TestStartReportsVMMError(t *testing.T) {
	cgroup := needJail(t)
	bin := buildIronvisor(t, t.TempDir())
	s, events, state := newSup(t, cgroup, func(o *Options) { o.Binary, o.KVMDevice = bin, "/dev/null" })
	dir := t.TempDir()
	kernel := filepath.Join(dir, "hello.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello("SUPERVISOR-HELLO", testutil.ExitPoweroff), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := RunSpec{ID: "i-nokvm", VCPUs: 1, MemBytes: 16 << 20, Kernel: kernel,
		Cmdline: "console=ttyS0", ConsoleLog: filepath.Join(dir, "console.log")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Start(ctx, spec)
	if err == nil {
		t.Fatal("Start succeeded with /dev/null as KVM")
	}
	t.Logf("Start: %v", err)
	e := nextExit(t, events)
	t.Logf("OnExit: %+v", e)
	vmmLine := lastLine(filepath.Join(state, "vmm", spec.ID, "vmm.log"))
	if !strings.HasPrefix(vmmLine, "ironvisor vmm run: ") {
		t.Fatalf("the VMM's last line %q is not its error message", vmmLine)
	}
	msg := strings.TrimPrefix(vmmLine, "ironvisor vmm run: ")
	if e.id != spec.ID || !e.crashed || !strings.Contains(e.reason, msg) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("OnExit %+v / Start error %q: want a crash of %s carrying %q", e, err, spec.ID, msg)
	}
	if _, err := os.Stat(filepath.Join(state, "jail", spec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("jail dir left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cgroup, spec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cgroup left behind: %v", err)
	}
	if len(s.Running()) != 0 {
		t.Fatalf("still running: %v", s.Running())
	}
	if b, next, err := s.Console(ctx, spec.ID, 0, 0); err != nil || next != int64(len(b)) {
		t.Fatalf("console from the log: %q %d %v", b, next, err)
	}
	if err := s.Stop(ctx, spec.ID, true); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Stop of an ended VMM: %v", err)
	}
	if err := s.Forget(spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Console(ctx, spec.ID, 0, 0); !errors.Is(err, ErrUnknown) {
		t.Fatalf("console after Forget: %v", err)
	}
}

// TestReattach leaves a long-lived jailed process and an empty jail
// behind a launcher that exits (as an appliance that restarts), then a new
// supervisor must adopt the live one, clean up the empty one, and see the
// adopted one end when it stops it.
func TestReattach(t *testing.T) {
	cgroup := needJail(t)
	s, events, state := newSup(t, cgroup, nil)
	runHelper(t, "launch", "launch", state, cgroup, "i-alive", "sleep")
	runHelper(t, "launch", "launch", state, cgroup, "i-dead", "exit")
	t.Cleanup(func() { s.Stop(context.Background(), "i-alive", true) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := s.Reattach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"i-alive"}) || !slices.Equal(s.Running(), []string{"i-alive"}) {
		t.Fatalf("adopted %v, running %v; want [i-alive]", ids, s.Running())
	}
	for _, p := range []string{filepath.Join(state, "jail", "i-dead"), filepath.Join(cgroup, "i-dead")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("orphan %s not cleaned: %v", p, err)
		}
	}
	// The helper serves no control socket, so Stop must fall back to
	// killing it through its pidfd.
	if err := s.Stop(ctx, "i-alive", false); err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, events)
	if e.id != "i-alive" || !e.crashed || !strings.Contains(e.reason, "exit status unknown") {
		t.Fatalf("OnExit %+v", e)
	}
	if _, err := os.Stat(filepath.Join(cgroup, "i-alive")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cgroup of the adopted VMM left: %v", err)
	}
	if ids, err := s.Reattach(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("second Reattach: %v %v", ids, err)
	}
}

func TestDescribe(t *testing.T) {
	s, _, state := newSup(t, t.TempDir(), nil)
	dir := filepath.Join(state, "vmm", "i-1")
	os.MkdirAll(dir, 0o700)
	for _, c := range []struct {
		log     string
		st      exitStatus
		reason  string
		crashed bool
		reset   bool
	}{
		{"noise\nironvisor vmm run: guest powered off (exit 0)\n", exitStatus{known: true}, "guest powered off (exit 0)", false, false},
		{"ironvisor vmm run: guest reset (exit 10)", exitStatus{known: true, code: 10}, "guest reset (exit 10)", false, true},
		{"ironvisor vmm run: guest reset (exit 10)\n", exitStatus{}, "guest reset (exit 10)", false, true},
		// After a triple fault the VMM writes the guest's registers, then
		// its reason (vmm/cli's exitReport).
		{"ironvisor vmm run: guest state at the end:\nvcpu 0: last exit io write port 0x3f8 (24767 exits in all)\n  rip=0x000000000000fff0 rsp=0x0000000000000000 rflags=0x2\n  gdt base=0x0 limit=0xffff idt base=0x0 limit=0xffff fcw=0x37f\nironvisor vmm run: triple fault (KVM shutdown exit) (exit 10)\n",
			exitStatus{known: true, code: 10}, "triple fault (KVM shutdown exit) (exit 10)", false, true},
		{"ironvisor vmm run: guest reset (exit 10)", exitStatus{known: true, signal: 9}, "vmm killed by signal killed: guest reset (exit 10)", true, false},
		{"ironvisor vmm run: stopped (exit 11)\n\n", exitStatus{known: true, code: 11}, "stopped (exit 11)", false, false},
		{"ironvisor vmm run: create vm: bad\n", exitStatus{known: true, code: 1}, "create vm: bad", true, false},
		{"", exitStatus{known: true, code: 1}, "vmm exited with status 1", true, false},
		{"", exitStatus{known: true, signal: 9}, "vmm killed by signal killed", true, false},
		{"ironvisor vmm run: start stages (monotonic ns): init=1 built=2 run=3\n", exitStatus{known: true, signal: 9}, "vmm killed by signal killed", true, false},
		{"ironvisor vmm run: guest powered off (exit 0)\n", exitStatus{}, "guest powered off (exit 0)", false, false},
		{"ironvisor vmm run: broke (exit 20)\n", exitStatus{}, "broke (exit 20)", true, false},
		{"", exitStatus{}, "vmm ended, exit status unknown", true, false},
	} {
		os.WriteFile(filepath.Join(dir, "vmm.log"), []byte(c.log), 0o600)
		reason, crashed, reset := s.describe("i-1", c.st)
		if reason != c.reason || crashed != c.crashed || reset != c.reset {
			t.Errorf("log %q status %+v: got %q %v %v, want %q %v %v", c.log, c.st, reason, crashed, reset, c.reason, c.crashed, c.reset)
		}
	}
}

func TestStartRefusesBadSpec(t *testing.T) {
	s, _, _ := newSup(t, t.TempDir(), nil)
	good := RunSpec{ID: "i-1", VCPUs: 1, MemBytes: 64 << 20, Kernel: "/k", ConsoleLog: "/c"}
	for _, mod := range []func(*RunSpec){
		func(r *RunSpec) { r.VCPUs = 0 },
		func(r *RunSpec) { r.MemBytes = 0 },
		func(r *RunSpec) { r.Kernel = "" },
		func(r *RunSpec) { r.ConsoleLog = "" },
		func(r *RunSpec) { r.ID = "../x" },
	} {
		r := good
		mod(&r)
		if err := s.Start(context.Background(), r); err == nil {
			t.Errorf("Start(%+v) succeeded", r)
		}
	}
	if len(s.Running()) != 0 {
		t.Fatalf("running after refused starts: %v", s.Running())
	}
}

// TestStartMissingFileLeavesNoJail: a file the VMM needs is missing, so
// Start fails before any process or jail exists, and OnExit is not called.
func TestStartMissingFileLeavesNoJail(t *testing.T) {
	s, events, state := newSup(t, t.TempDir(), func(o *Options) { o.KVMDevice = "/dev/null" })
	dir := t.TempDir()
	spec := RunSpec{ID: "i-1", VCPUs: 1, MemBytes: 64 << 20, Kernel: filepath.Join(dir, "missing"),
		ConsoleLog: filepath.Join(dir, "console.log")}
	err := s.Start(context.Background(), spec)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start with a missing kernel: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "jail")); len(ents) != 0 || len(s.Running()) != 0 {
		t.Fatalf("jail entries %d, running %v", len(ents), s.Running())
	}
	select {
	case e := <-events:
		t.Fatalf("OnExit without a process: %+v", e)
	default:
	}
	if _, err := os.Stat(filepath.Join(state, "vmm", "i-1", "control.sock")); err == nil {
		t.Error("control socket left behind")
	}
}
