//go:build rack

// These tests need hardware KVM (VMX or SVM). The hosts that run make test
// have none, so they are compiled only with the rack tag, into the test
// binaries that the virtual rack runs inside an L1 server with nested SVM.

package kvm

import (
	"testing"

	"golang.org/x/sys/unix"
)

// openVM opens /dev/kvm and creates a VM with an irqchip, or skips when
// /dev/kvm is not Usable. (testutil.NeedKVM is the helper every other KVM
// test uses; it imports this package, so this package's tests cannot.)
func openVM(t *testing.T) (*System, *VM) {
	t.Helper()
	if err := Usable("/dev/kvm"); err != nil {
		t.Skipf("SKIP: %v; the virtual rack (the racktest packages) runs this test", err)
	}
	s, err := Open("/dev/kvm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	vm, err := s.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	if err := vm.CreateIRQChip(); err != nil {
		t.Fatal(err)
	}
	return s, vm
}

// TestRealRegisterRoundTrips checks the mirrored register structs against
// the running kernel: what is set is read back unchanged.
func TestRealRegisterRoundTrips(t *testing.T) {
	_, vm := openVM(t)
	c, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := Regs{RAX: 1, RBX: 2, RCX: 3, RDX: 4, RSI: 5, RDI: 6, RSP: 7, RBP: 8,
		R8: 9, R9: 10, R10: 11, R11: 12, R12: 13, R13: 14, R14: 15, R15: 16, RIP: 0x1234, RFLAGS: 0x2}
	if err := c.SetRegs(want); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Regs(); err != nil || got != want {
		t.Fatalf("Regs = %+v, %v; want %+v", got, err, want)
	}
	s, err := c.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	s.CS.Base, s.CS.Selector = 0x10000, 0x1000
	s.GDT = DTable{Base: 0x500, Limit: 0x27}
	if err := c.SetSregs(s); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Sregs(); err != nil || got.CS.Base != 0x10000 || got.CS.Selector != 0x1000 || got.GDT.Base != 0x500 || got.GDT.Limit != 0x27 {
		t.Fatalf("Sregs CS %+v GDT %+v, %v", got.CS, got.GDT, err)
	}
	if err := c.SetMSRs([]MSREntry{{Index: 0x174, Data: 0x10}}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MSRs([]uint32{0x174}); err != nil || len(got) != 1 || got[0].Data != 0x10 {
		t.Fatalf("MSRs = %+v, %v", got, err)
	}
	l, err := c.LAPIC()
	if err != nil {
		t.Fatal(err)
	}
	l.SetLVTDelivery(LAPICRegLINT0, LVTDeliveryExtINT)
	if err := c.SetLAPIC(l); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LAPIC(); err != nil || got.Reg(LAPICRegLINT0)>>8&7 != LVTDeliveryExtINT {
		t.Fatalf("LINT0 = %#x, %v", got.Reg(LAPICRegLINT0), err)
	}
	if err := c.SetMPState(MPStateRunnable); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MPState(); err != nil || got != MPStateRunnable {
		t.Fatalf("MPState = %d, %v", got, err)
	}
}

// TestRealCPUIDAndEventFDs checks KVM_GET_SUPPORTED_CPUID and
// KVM_SET_CPUID2, and that ioeventfd and irqfd registrations are accepted
// and can be undone.
func TestRealCPUIDAndEventFDs(t *testing.T) {
	s, vm := openVM(t)
	entries, err := s.GetSupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint32]bool{}
	for _, e := range entries {
		have[e.Function] = true
	}
	if !have[0] || !have[1] || !have[0x40000000] {
		t.Fatalf("supported CPUID lacks leaf 0, 1 or 0x40000000: %d entries", len(entries))
	}
	c, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetCPUID2(entries); err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := vm.RegisterIOEventFD(0xd0000050, 4, 1, efd); err != nil {
		t.Fatal(err)
	}
	if err := vm.UnregisterIOEventFD(0xd0000050, 4, 1, efd); err != nil {
		t.Fatal(err)
	}
	if err := vm.RegisterIRQFD(efd, 5); err != nil {
		t.Fatal(err)
	}
	if err := vm.UnregisterIRQFD(efd, 5); err != nil {
		t.Fatal(err)
	}
	if err := vm.IRQLine(4, true); err != nil {
		t.Fatal(err)
	}
	if err := vm.IRQLine(4, false); err != nil {
		t.Fatal(err)
	}
}
