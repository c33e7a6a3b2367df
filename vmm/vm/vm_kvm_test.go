//go:build rack

// These tests need hardware KVM (VMX or SVM). The hosts that run make test
// have none, so they are compiled only with the rack tag, into the test
// binaries that the virtual rack runs inside an L1 server with nested SVM.

package vm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/kvm"
	"github.com/ironvisor/ironvisor/vmm/testutil"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

// TB is what runGuest needs from a test or benchmark.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// lockedBuffer is a console that tests read while the guest writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runGuest builds and runs cfg with a deadline and returns the result and
// the console output.
func runGuest(t TB, cfg vm.Config) (vm.Result, string) {
	t.Helper()
	testutil.NeedKVM(t)
	var out lockedBuffer
	cfg.Console = &out
	if cfg.MemSize == 0 {
		cfg.MemSize = 16 << 20
	}
	m, err := vm.New(cfg)
	if err != nil {
		t.Fatalf("vm.New: %v", err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := m.Run(ctx)
	return res, out.String()
}

func TestPVHGuestResets(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHHello("HELLO FROM PVH\n", testutil.ExitReset)})
	if res.Code != exitcode.Reset || !strings.Contains(out, "HELLO FROM PVH") {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

func TestPVHGuestPowersOff(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHHello("BYE\n", testutil.ExitPoweroff)})
	if res.Code != exitcode.Poweroff || out != "BYE\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

func TestRealModeGuest(t *testing.T) {
	res, out := runGuest(t, vm.Config{Flat: testutil.RealModeHello("REAL MODE OK\n", testutil.ExitPoweroff)})
	if res.Code != exitcode.Poweroff || out != "REAL MODE OK\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

// TestGuestResetsThroughACPI: a write of RESET_VALUE to the FADT's reset
// register ends the VM with exitcode.Reset.
func TestGuestResetsThroughACPI(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHHello("ACPI RESET\n", testutil.ExitACPIReset)})
	if res.Code != exitcode.Reset || !strings.Contains(res.Reason, "ACPI reset register") || out != "ACPI RESET\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

// TestGuestResetsThroughResetVector: a real-mode guest that jumps to
// F000:FFF0, as Linux's BIOS reboot does, runs the VMM's reset vector code
// and ends the VM with exitcode.Reset.
func TestGuestResetsThroughResetVector(t *testing.T) {
	res, out := runGuest(t, vm.Config{Flat: testutil.RealModeHello("TO THE VECTOR\n", testutil.ExitResetVector)})
	if res.Code != exitcode.Reset || !strings.Contains(res.Reason, "reset vector") || out != "TO THE VECTOR\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

func TestSMPGuest(t *testing.T) {
	const cpus = 2
	res, out := runGuest(t, vm.Config{Kernel: testutil.SMPHello("SMP OK\n", cpus, testutil.ExitPoweroff), CPUs: cpus})
	if res.Code != exitcode.Poweroff || out != "1SMP OK\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

// TestGuestBrokeDevice: a guest that drives the virtio-rng device into
// DEVICE_NEEDS_RESET stops the VM with exitcode.GuestBrokeDevice.
func TestGuestBrokeDevice(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHBreakVirtio("BREAKING\n")})
	if res.Code != exitcode.GuestBrokeDevice || res.Err == nil || out != "BREAKING\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
	if !strings.Contains(res.Err.Error(), "FEATURES_OK") {
		t.Errorf("error %q does not say what the guest did", res.Err)
	}
}

// TestHostileScanSurvives: a guest that reads thousands of I/O ports and
// reads and zeroes the whole virtio-mmio window still runs to its poweroff.
func TestHostileScanSurvives(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHHostileScan("SURVIVED\n")})
	if res.Code != exitcode.Poweroff || out != "SURVIVED\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
}

// TestForcedStop: a guest that never exits is stopped by cancelling Run's
// context, and the result says the host stopped it.
func TestForcedStop(t *testing.T) {
	testutil.NeedKVM(t)
	// The guest halts for good with interrupts off. (A guest that spins
	// with interrupts off instead can wedge the whole L1 in the nested-TCG
	// rack: QEMU's SVM emulation then stops delivering L1 interrupts, so
	// the kick IPI never lands. Real hardware does not have that problem.)
	m, err := vm.New(vm.Config{Kernel: testutil.PVHHello("halting\n", testutil.ExitHalt), MemSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan vm.Result, 1)
	go func() { done <- m.Run(ctx) }()
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	if err := m.Pause(pctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if st := m.Status(); st.State != "paused" {
		t.Fatalf("status %+v, want paused", st)
	}
	if err := m.Resume(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case res := <-done:
		if res.Code != exitcode.Stopped {
			t.Fatalf("result %+v, want exitcode.Stopped", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestPVMGuardRefusesStock64BitKernel needs no KVM: the guard runs before
// /dev/kvm is opened, from a sysfs tree that says kvm_pvm.
func TestPVMGuardRefusesStock64BitKernel(t *testing.T) {
	sys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sys, "module", "kvm_pvm"), 0o755); err != nil {
		t.Fatal(err)
	}
	bz := make([]byte, 0x1000)
	copy(bz[0x202:], "HdrS")
	_, err := vm.New(vm.Config{Kernel: bz, MemSize: 16 << 20, SysRoot: sys, Device: "/nonexistent"})
	if !errors.Is(err, kvm.ErrPVMNeedsPVMGuest) {
		t.Fatalf("New = %v, want ErrPVMNeedsPVMGuest", err)
	}
	// The same kernel declared a PVM guest passes the guard (and then fails
	// to open the missing device).
	_, err = vm.New(vm.Config{Kernel: bz, MemSize: 16 << 20, SysRoot: sys, Device: "/nonexistent", PVMGuest: true})
	if err == nil || errors.Is(err, kvm.ErrPVMNeedsPVMGuest) {
		t.Fatalf("PVM guest kernel: New = %v", err)
	}
}

func TestMalformedKernelRefused(t *testing.T) {
	testutil.NeedKVM(t)
	for name, k := range map[string][]byte{
		"garbage":       []byte("not a kernel at all"),
		"truncated ELF": testutil.PVHHello("x", testutil.ExitReset)[:60],
	} {
		if _, err := vm.New(vm.Config{Kernel: k, MemSize: 16 << 20}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkColdStart(b *testing.B) {
	img := testutil.PVHHello("x", testutil.ExitPoweroff)
	for b.Loop() {
		res, _ := runGuest(b, vm.Config{Kernel: img})
		if res.Code != exitcode.Poweroff {
			b.Fatalf("result %+v", res)
		}
	}
}

// TestTripleFaultReport: a guest that triple-faults ends with ExitReset and
// a report of every vCPU's registers and last exit (the marker's last byte
// to COM1) with the registers at that exit (KVM_CAP_SYNC_REGS, which every
// KVM the rack runs has), so that a crash explains itself.
func TestTripleFaultReport(t *testing.T) {
	res, out := runGuest(t, vm.Config{Kernel: testutil.PVHTripleFault("FAULTING\n"), CPUs: 2})
	if res.Code != exitcode.Reset || !strings.Contains(res.Reason, "triple fault") || out != "FAULTING\n" {
		t.Fatalf("result %+v, console %q", res, out)
	}
	for _, want := range []string{"vcpu 0: last exit io write port 0x3f8", "registers at that exit:\n  rip=0x0000000000", "vcpu 1: last exit none", "rip=", "cr0=", "cs  sel=", "idt base="} {
		if !strings.Contains(res.State, want) {
			t.Errorf("report lacks %q:\n%s", want, res.State)
		}
	}
	t.Logf("report:\n%s", res.State)
}

// TestGuestRAMMappedWithHugePages: a guest that touches 8 MiB of its RAM
// gets it through 2 MiB entries of KVM's nested page tables (the VM's
// pages_2m statistic in debugfs), because memory.Allocate aligns guest RAM
// to 2 MiB and advises huge pages. With a 4 KiB-aligned mapping KVM can
// use no 2 MiB entry at all, and nested each 4 KiB page costs its own
// nested page fault: a stock Debian guest took about 50,000 of them per
// boot against QEMU's 480.
func TestGuestRAMMappedWithHugePages(t *testing.T) {
	testutil.NeedKVM(t)
	const debugfs = "/sys/kernel/debug"
	if _, err := os.Stat(debugfs + "/kvm"); err != nil {
		if err := unix.Mount("debugfs", debugfs, "debugfs", 0, ""); err != nil {
			t.Skipf("SKIP: no KVM statistics: %s/kvm missing and debugfs not mountable: %v", debugfs, err)
		}
		t.Cleanup(func() { unix.Unmount(debugfs, 0) })
	}
	const from, to = 4 << 20, 12 << 20 // four 2 MiB-aligned huge pages
	// The VM's folder is named PID-FD after the thread that created it,
	// not the process: take the one that appears with this VM.
	before, _ := filepath.Glob(debugfs + "/kvm/*-*")
	var out lockedBuffer
	m, err := vm.New(vm.Config{Kernel: testutil.PVHTouch("touched\n", from, to, testutil.ExitPoweroff), MemSize: 16 << 20, Console: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res := m.Run(ctx); res.Code != exitcode.Poweroff || out.String() != "touched\n" {
		t.Fatalf("result %+v, console %q", res, out.String())
	}
	// The VM is still open, so its mappings and its folder are still
	// there.
	after, _ := filepath.Glob(debugfs + "/kvm/*-*")
	dirs := slices.DeleteFunc(after, func(d string) bool { return slices.Contains(before, d) })
	if len(dirs) != 1 {
		t.Fatalf("KVM debugfs folders that came with the VM: %v, want one", dirs)
	}
	stat := func(name string) int {
		b, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	huge, small := stat("pages_2m"), stat("pages_4k")
	t.Logf("nested page table entries after touching %d MiB: %d of 2 MiB, %d of 4 KiB", (to-from)>>20, huge, small)
	if huge+small == 0 {
		// PVM, for one, shadows the guest's page tables and counts none.
		t.Skipf("SKIP: this KVM counts no nested page table entries (no TDP)")
	}
	if huge < (to-from)>>21 {
		t.Errorf("%d nested mappings of 2 MiB, want at least %d: guest RAM is not mapped with huge pages", huge, (to-from)>>21)
	}
}

// TestVCPUStartState checks the FPU state every vCPU starts with: the RESET
// x87 control word, and XCR0 with every XSAVE component the host's CPU has
// (x87, SSE, and AVX where /proc/cpuinfo lists it), not the RESET value
// x87 alone. With x87 alone, a nested KVM whose L0 does not intercept
// XSETBV (the rack's QEMU TCG) reports a 576-byte XSAVE area and the
// guest kernel turns XSAVE off ("XSAVE consistency problem").
func TestVCPUStartState(t *testing.T) {
	testutil.NeedKVM(t)
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	flags := " " + string(cpuinfo) + " "
	m, err := vm.New(vm.Config{Kernel: testutil.PVHHello("X\n", testutil.ExitPoweroff), CPUs: 2, MemSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	states, err := m.VCPUStates()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 {
		t.Fatalf("%d vCPU states, want 2", len(states))
	}
	for _, s := range states {
		if s.FPU.FCW != 0x37f {
			t.Errorf("vcpu %d: fcw %#x, want 0x37f", s.ID, s.FPU.FCW)
		}
		if !strings.Contains(flags, " xsave ") {
			continue
		}
		if s.XCR0&3 != 3 {
			t.Errorf("vcpu %d: XCR0 %#x lacks x87 or SSE", s.ID, s.XCR0)
		}
		if strings.Contains(flags, " avx ") && s.XCR0&4 == 0 {
			t.Errorf("vcpu %d: XCR0 %#x lacks AVX, which the host has", s.ID, s.XCR0)
		}
	}
}

// TestPowerButtonRaisesItsGSI: PressPowerButton puts an edge on
// boot.PowerButtonGSI, the DSDT's Generic Event Device interrupt, through
// the in-kernel irqchip. A tiny guest routes that IOAPIC pin to a vector
// with interrupts off, says it is armed, and powers off once the vector is
// pending in its local APIC; nothing else raises that pin.
func TestPowerButtonRaisesItsGSI(t *testing.T) {
	testutil.NeedKVM(t)
	var out lockedBuffer
	m, err := vm.New(vm.Config{
		Kernel:  testutil.PVHWaitGSI("armed\n", "pressed\n", boot.PowerButtonGSI, testutil.ExitPoweroff),
		MemSize: 16 << 20, Console: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan vm.Result, 1)
	go func() { done <- m.Run(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), "armed\n") {
		select {
		case <-tick.C:
		case res := <-done:
			t.Fatalf("the guest ended before it was armed: %+v, console %q", res, out.String())
		case <-ctx.Done():
			t.Fatalf("the guest never armed; console %q", out.String())
		}
	}
	if strings.Contains(out.String(), "pressed") {
		t.Fatalf("the vector was pending before the press; console %q", out.String())
	}
	if err := m.PressPowerButton(); err != nil {
		t.Fatalf("press: %v", err)
	}
	select {
	case res := <-done:
		if res.Code != exitcode.Poweroff || !strings.Contains(out.String(), "armed\npressed\n") {
			t.Fatalf("result %+v, console %q; want the guest to see the press and power off", res, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("the guest never saw the press; console %q", out.String())
	}
	if err := m.PressPowerButton(); !errors.Is(err, vm.ErrNotRunning) {
		t.Errorf("press after the poweroff: %v, want ErrNotRunning", err)
	}
}
