//go:build rack

// These tests need hardware KVM (VMX or SVM). The hosts that run make test
// have none, so they are compiled only with the rack tag, into the test
// binaries that the virtual rack runs inside an L1 server with nested SVM.

package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestVMMRunControlSocket drives `vmm run` through its control socket on
// real KVM: a tiny guest prints a marker and halts for good; the client
// reads the marker from the console ring, pauses and resumes the VM, reads
// the counters, then asks for a graceful stop that the guest ignores, so
// the stop is forced and the VMM exits with ExitStopped.
func TestVMMRunControlSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, code, f := runTinyVMM(ctx, t, testutil.PVHHello("CONTROL-ME\n", testutil.ExitHalt))
	waitConsole(ctx, t, c, "CONTROL-ME\n")
	if err := c.Pause(ctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if st, err := c.Status(ctx); err != nil || st.State != "paused" || st.VCPUs != 1 || st.MemoryBytes != 16<<20 {
		t.Fatalf("status after pause: %+v, %v", st, err)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if st, err := c.Status(ctx); err != nil || st.State != "running" {
		t.Fatalf("status after resume: %+v, %v", st, err)
	}
	ctr, err := c.Counters(ctx)
	if err != nil || ctr["serial_tx_bytes"] != uint64(len("CONTROL-ME\n")) || ctr["exits_io"] == 0 {
		t.Fatalf("counters %v, %v", ctr, err)
	}
	if _, ok := ctr["rng_served"]; !ok {
		t.Errorf("counters lack the rng device: %v", ctr)
	}
	forced, err := c.Stop(ctx, 300*time.Millisecond)
	if err != nil || !forced {
		t.Fatalf("stop: forced=%v, %v", forced, err)
	}
	select {
	case got := <-code:
		if got != exitcode.Stopped {
			t.Fatalf("exit code %d, want %d", got, exitcode.Stopped)
		}
	case <-ctx.Done():
		t.Fatal("vmm run did not return after the forced stop")
	}
	if log, err := os.ReadFile(f.consoleLog); err != nil || string(log) != "CONTROL-ME\n" {
		t.Fatalf("console log %q, %v", log, err)
	}
}

// runTinyVMM runs `vmm run` on guest (a PVH ELF) with a control socket
// and a console log in a temporary directory, and returns a client of the
// socket, the channel that gets run's exit code, and the flags used.
func runTinyVMM(ctx context.Context, t *testing.T, guest []byte) (*control.Client, <-chan int, vmmFlags) {
	t.Helper()
	testutil.NeedKVM(t)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "guest.elf")
	if err := os.WriteFile(kernel, guest, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "ctl.sock")
	f := vmmFlags{kernel: kernel, mem: "16M", cpus: 1, kvm: "/dev/kvm", control: sock, consoleLog: filepath.Join(dir, "console.log"), consoleMax: "1M"}
	s, err := startVMM(f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() { code <- s.run() }()
	c, err := control.DialContext(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, code, f
}

// waitConsole reads the console ring until want appears or ctx ends. The
// guest writes it within its first instructions; each read is one round
// trip, paced by a ticker.
func waitConsole(ctx context.Context, t *testing.T, c *control.Client, want string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var got []byte
	var off int64
	for {
		data, next, err := c.Console(ctx, off, 0)
		if err != nil {
			t.Fatalf("console: %v", err)
		}
		got, off = append(got, data...), next
		if bytes.Contains(got, []byte(want)) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("console %q never showed %q", got, want)
		}
	}
}

// Where build/racktest's L1 (TestVMMInRack) puts the Debian cloud kernel
// and its busybox initrd, whose /init with "pwrbtn" waits for KEY_POWER
// on the "Power Button" input device.
const (
	linuxKernel = "/guest/vmlinuz"
	linuxInitrd = "/guest/initrd.gz"
)

// TestVMMPowerButton boots the Debian cloud kernel under `vmm run`, waits
// until the guest has the ACPI button driver on the DSDT's power button
// (its "Power Button" input device, distinct from the i8042 keyboard),
// and asks for a graceful stop: through the control socket, and by
// SIGTERM (stopOnSignals, fed the signal on the channel signal.Notify
// fills in runVMMRun). The stop's power button press must reach the guest
// as KEY_POWER on that device, and the guest then powers off: the stop is
// not forced and the VMM exits with exitcode.Poweroff. The guest turns
// the kernel's Ctrl-Alt-Del reboot off, so the stop's fallback cannot end
// it; without the Generic Event Device there is no such input device, or
// no key, and the test fails.
func TestVMMPowerButton(t *testing.T) {
	testutil.NeedKVM(t)
	for _, p := range []string{linuxKernel, linuxInitrd} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("SKIP: %v; build/racktest's TestVMMInRack puts the cloud kernel and its initrd there", err)
		}
	}
	t.Run("control", func(t *testing.T) {
		powerButtonStop(t, func(ctx context.Context, c *control.Client, _ *vmmSession) (bool, error) {
			return c.Stop(ctx, 2*time.Minute)
		})
	})
	t.Run("sigterm", func(t *testing.T) {
		powerButtonStop(t, func(ctx context.Context, _ *control.Client, s *vmmSession) (bool, error) {
			sig := make(chan os.Signal, 1)
			go stopOnSignals(s.m, s.cancel, 2*time.Minute, sig, slog.New(slog.DiscardHandler))
			sig <- syscall.SIGTERM
			return false, nil // a forced stop shows as exitcode.Stopped
		})
	})
}

// powerButtonStop boots the pwrbtn guest, waits for its power button
// device, stops it with stop and checks that the guest powered off on
// KEY_POWER.
func powerButtonStop(t *testing.T, stop func(context.Context, *control.Client, *vmmSession) (forced bool, err error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	f := vmmFlags{
		kernel: linuxKernel, initrd: linuxInitrd, cmdline: "console=ttyS0 quiet panic=-1 i8042.noaux pwrbtn",
		mem: "256M", cpus: 1, kvm: "/dev/kvm", control: filepath.Join(dir, "ctl.sock"),
		consoleLog: filepath.Join(dir, "console.log"), consoleMax: "1M",
	}
	s, err := startVMM(f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() { code <- s.run() }()
	c, err := control.DialContext(ctx, f.control)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	console := func() []byte {
		b, _ := os.ReadFile(f.consoleLog)
		return b
	}
	waitConsole(ctx, t, c, "GUEST-BUTTON-")
	if !bytes.Contains(console(), []byte("GUEST-BUTTON-READY")) {
		c.Stop(ctx, time.Second)
		<-code
		t.Fatalf("the guest has no Power Button input device; console:\n%s", console())
	}
	start := time.Now()
	forced, err := stop(ctx, c, s)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	var got int
	select {
	case got = <-code:
	case <-ctx.Done():
		t.Fatalf("the VM did not end; console:\n%s", console())
	}
	t.Logf("graceful stop took %v, forced %v, exit %d", time.Since(start).Round(time.Millisecond), forced, got)
	out := console()
	if !bytes.Contains(out, []byte("GUEST-KEY-POWER")) {
		t.Errorf("the guest never saw KEY_POWER from the power button; console:\n%s", out)
	}
	if forced || got != exitcode.Poweroff {
		t.Errorf("stop forced %v, exit %d, want a graceful stop ending with the guest's poweroff (%d); console:\n%s", forced, got, exitcode.Poweroff, out)
	}
}
