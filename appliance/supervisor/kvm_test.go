//go:build rack

// These tests need hardware KVM (VMX or SVM). The hosts that run make test
// have none, so they are compiled only with the rack tag, into the test
// binaries that the virtual rack runs inside an L1 server with nested SVM.

package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// rackIronvisor is where the rack test (appliance/supervisor/racktest)
// puts the ironvisor binary.
const rackIronvisor = "/bin/ironvisor"

// waitConsole polls the console of id until it holds marker.
func waitConsole(ctx context.Context, t *testing.T, s *Supervisor, id, marker string) []byte {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _, err := s.Console(ctx, id, 0, 0)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			return b
		}
		select {
		case <-ctx.Done():
			t.Fatalf("console of %s never showed %q (last %q, %v)", id, marker, b, err)
		case <-tick.C:
		}
	}
}

// TestSupervisorOnKVM runs tiny guests through the supervisor on real KVM
// (in the rack): start, the guest's marker on the console, a graceful stop
// that the halted guest ignores so it ends forced, OnExit, the console read
// from the log afterwards, a second start on a fresh log, a forced stop,
// nothing left behind; then a VMM started by another
// process that exits is adopted, read and stopped (reattachRealVMM).
func TestSupervisorOnKVM(t *testing.T) {
	testutil.NeedKVM(t)
	cgroup := needJail(t)
	bin := rackIronvisor
	if _, err := os.Stat(bin); err != nil {
		bin = buildIronvisor(t, t.TempDir())
	}
	s, events, state := newSup(t, cgroup, func(o *Options) { o.Binary, o.GracefulTimeout = bin, 2*time.Second })
	dir := t.TempDir()
	spec := RunSpec{ID: "i-kvm", VCPUs: 1, MemBytes: 16 << 20, Cmdline: "console=ttyS0",
		Kernel: filepath.Join(dir, "one.elf"), ConsoleLog: filepath.Join(dir, "console.log")}
	os.WriteFile(spec.Kernel, testutil.PVHHello("SUPERVISOR-ONE\n", testutil.ExitHalt), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	if err := s.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start to control socket answering: %v", time.Since(start))
	waitConsole(ctx, t, s, spec.ID, "SUPERVISOR-ONE")
	if err := s.Start(ctx, spec); err == nil {
		t.Fatal("second Start of a running instance succeeded")
	}
	if err := s.Stop(ctx, spec.ID, false); err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, events)
	t.Logf("OnExit after a graceful stop: %+v", e)
	if e.id != spec.ID || e.crashed || !strings.Contains(e.reason, "(exit 11)") {
		t.Fatalf("OnExit %+v, want a forced stop (exit 11), not a crash", e)
	}
	waitConsole(ctx, t, s, spec.ID, "SUPERVISOR-ONE") // from the log now

	os.WriteFile(spec.Kernel, testutil.PVHHello("SUPERVISOR-TWO\n", testutil.ExitHalt), 0o644)
	if err := s.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if b := waitConsole(ctx, t, s, spec.ID, "SUPERVISOR-TWO"); bytes.Contains(b, []byte("SUPERVISOR-ONE")) {
		t.Fatalf("second boot's console holds the first's output: %q", b)
	}
	if err := s.Stop(ctx, spec.ID, true); err != nil {
		t.Fatal(err)
	}
	if e := nextExit(t, events); e.crashed || !strings.Contains(e.reason, "(exit 11)") {
		t.Fatalf("OnExit after a forced stop: %+v", e)
	}
	for _, p := range []string{filepath.Join(state, "jail", spec.ID), filepath.Join(cgroup, spec.ID), filepath.Join(state, "vmm", spec.ID, "control.sock")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if err := s.Forget(spec.ID); err != nil {
		t.Fatal(err)
	}
	reattachRealVMM(ctx, t, s, events, cgroup, bin, dir)
}

// reattachRealVMM starts a VMM from another process that then exits (an
// appliance going away), and checks that s adopts it, reads its console
// through its control socket, stops it gracefully (forced after the
// timeout), and reports how it ended from the VMM's own last line.
func reattachRealVMM(ctx context.Context, t *testing.T, s *Supervisor, events <-chan exitEvent, cgroup, bin, dir string) {
	t.Helper()
	kernel := filepath.Join(dir, "three.elf")
	os.WriteFile(kernel, testutil.PVHHello("SUPERVISOR-THREE\n", testutil.ExitHalt), 0o644)
	runHelper(t, "supervise", s.opt.StateDir, cgroup, bin, kernel, filepath.Join(dir, "three.log"), "i-away")
	ids, err := s.Reattach(ctx)
	if err != nil || len(ids) != 1 || ids[0] != "i-away" {
		t.Fatalf("Reattach: %v %v, want [i-away]", ids, err)
	}
	waitConsole(ctx, t, s, "i-away", "SUPERVISOR-THREE")
	if err := s.Stop(ctx, "i-away", false); err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, events)
	t.Logf("OnExit of the adopted VMM: %+v", e)
	if e.id != "i-away" || e.crashed || !strings.Contains(e.reason, "(exit 11)") {
		t.Fatalf("OnExit %+v, want the adopted VMM's forced stop (exit 11)", e)
	}
	if _, err := os.Stat(filepath.Join(cgroup, "i-away")); err == nil {
		t.Error("cgroup of the adopted VMM left behind")
	}
}
