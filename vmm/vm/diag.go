package vm

import (
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// reasonTripleFault is the Result.Reason of a KVM shutdown exit.
const reasonTripleFault = "triple fault (KVM shutdown exit)"

// lastExit is a vCPU's most recent exit other than a kick or the shutdown
// itself, for the report of a crashed guest. Only the vCPU's own goroutine writes it; it is read
// once Run has stopped every vCPU (vcpuWG orders the two).
type lastExit struct {
	reason kvm.ExitReason
	addr   uint64 // port of an I/O exit, guest physical address of an MMIO exit
	write  bool
	exits  uint64 // every exit of this vCPU, kicks included
	// regs are the registers at that exit, when KVM syncs them (haveRegs).
	regs     kvm.Regs
	haveRegs bool
}

// String describes the exit.
func (e lastExit) String() string {
	dir := "read"
	if e.write {
		dir = "write"
	}
	switch {
	case e.exits == 0 || e.reason == kvm.ExitUnknown && e.addr == 0:
		return fmt.Sprintf("none but kicks and shutdowns (%d exits in all)", e.exits)
	case e.reason == kvm.ExitIO:
		return fmt.Sprintf("io %s port %#x (%d exits in all)", dir, e.addr, e.exits)
	case e.reason == kvm.ExitMMIO:
		return fmt.Sprintf("mmio %s %#x (%d exits in all)", dir, e.addr, e.exits)
	}
	return fmt.Sprintf("%s (%d exits in all)", e.reason, e.exits)
}

// recordExit notes exit reason of vCPU c before it is served.
func (v *VM) recordExit(c *kvm.VCPU, reason kvm.ExitReason) {
	e := &v.exits[c.ID()]
	e.exits++
	if reason == kvm.ExitIntr || reason == kvm.ExitShutdown {
		return
	}
	e.reason, e.addr, e.write = reason, 0, false
	if v.syncRegs {
		e.regs, e.haveRegs = c.SyncedRegs(), true
	}
	switch reason {
	case kvm.ExitIO:
		if io, err := c.IO(); err == nil {
			e.addr, e.write = uint64(io.Port), io.Direction == kvm.IOOut
		}
	case kvm.ExitMMIO:
		m := c.MMIO()
		e.addr, e.write = m.Addr, m.IsWrite
	}
}

// VCPUState is one vCPU's architectural state as KVM holds it.
type VCPUState struct {
	ID    int
	Regs  kvm.Regs
	Sregs kvm.Sregs
	FPU   kvm.FPU
	XCR0  uint64
	MP    kvm.MPState
}

// VCPUStates reads every vCPU's state. The vCPUs must not be running: call
// it before Run or after Run has returned (KVM would otherwise block the
// call until the vCPU leaves the guest).
func (v *VM) VCPUStates() ([]VCPUState, error) {
	var out []VCPUState
	for _, c := range v.vcpus {
		s, err := vcpuState(c)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// vcpuState reads one vCPU's state.
func vcpuState(c *kvm.VCPU) (VCPUState, error) {
	s := VCPUState{ID: c.ID()}
	var err error
	if s.Regs, err = c.Regs(); err != nil {
		return s, err
	}
	if s.Sregs, err = c.Sregs(); err != nil {
		return s, err
	}
	if s.FPU, err = c.FPU(); err != nil {
		return s, err
	}
	if s.MP, err = c.MPState(); err != nil {
		return s, err
	}
	// XCR0 is missing on a host without XSAVE; the report goes on without it.
	s.XCR0, _ = c.XCR0()
	return s, nil
}

// crashReport describes every vCPU after a triple fault: its registers,
// control registers, segments, x87 control word, XCR0 and its last exit, so that a crash in the
// field explains itself. failed is the vCPU that took the shutdown exit.
// Call it only after every vCPU has stopped.
func (v *VM) crashReport(failed int) string {
	var b strings.Builder
	for _, c := range v.vcpus {
		s, err := vcpuState(c)
		if err != nil {
			fmt.Fprintf(&b, "vcpu %d: %v\n", c.ID(), err)
			continue
		}
		last := v.exits[c.ID()]
		fmt.Fprintf(&b, "vcpu %d: last exit %s\n", c.ID(), last)
		if last.haveRegs {
			b.WriteString("  registers at that exit:\n")
			writeRegs(&b, last.regs)
		}
		if c.ID() == failed && v.kind == kvm.KindSVM {
			// arch/x86/kvm/svm/svm.c, shutdown_interception: the VMCB is
			// undefined after a shutdown, so KVM INITs the vCPU.
			b.WriteString("  now (shut down: KVM on AMD re-initialises this vCPU, so these are its INIT values, not the faulting ones):\n")
		} else {
			b.WriteString("  now:\n")
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// String formats the state as indented lines.
func (s VCPUState) String() string {
	sr := s.Sregs
	var b strings.Builder
	fmt.Fprintf(&b, "  mp_state=%d\n", s.MP)
	writeRegs(&b, s.Regs)
	fmt.Fprintf(&b, "  cr0=%#x cr2=%#x cr3=%#x cr4=%#x cr8=%#x efer=%#x apic_base=%#x xcr0=%#x\n", sr.CR0, sr.CR2, sr.CR3, sr.CR4, sr.CR8, sr.EFER, sr.APICBase, s.XCR0)
	for _, seg := range []struct {
		name string
		s    kvm.Segment
	}{{"cs", sr.CS}, {"ss", sr.SS}, {"ds", sr.DS}, {"es", sr.ES}, {"fs", sr.FS}, {"gs", sr.GS}, {"tr", sr.TR}, {"ldt", sr.LDT}} {
		g := seg.s
		fmt.Fprintf(&b, "  %-3s sel=0x%04x base=%#x limit=%#x type=%d p=%d dpl=%d db=%d s=%d l=%d g=%d unusable=%d\n",
			seg.name, g.Selector, g.Base, g.Limit, g.Type, g.Present, g.DPL, g.DB, g.S, g.L, g.G, g.Unusable)
	}
	fmt.Fprintf(&b, "  gdt base=%#x limit=%#x idt base=%#x limit=%#x fcw=%#x\n", sr.GDT.Base, sr.GDT.Limit, sr.IDT.Base, sr.IDT.Limit, s.FPU.FCW)
	return b.String()
}

// writeRegs formats the general-purpose registers as indented lines.
func writeRegs(b *strings.Builder, r kvm.Regs) {
	fmt.Fprintf(b, "  rip=0x%016x rsp=0x%016x rflags=%#x\n", r.RIP, r.RSP, r.RFLAGS)
	fmt.Fprintf(b, "  rax=%#x rbx=%#x rcx=%#x rdx=%#x rsi=%#x rdi=%#x rbp=%#x\n", r.RAX, r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP)
	fmt.Fprintf(b, "  r8=%#x r9=%#x r10=%#x r11=%#x r12=%#x r13=%#x r14=%#x r15=%#x\n", r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15)
}
