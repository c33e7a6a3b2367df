package vm

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// createVCPUs creates every vCPU with its CPUID, x87 control word, XCR0,
// MSRs and LAPIC LVTs (and, where KVM can, registers synced at every exit
// for the crash report), and puts vCPU 0 in the kernel's entry state. The
// others stay in their reset state until the guest wakes them with
// INIT/SIPI.
func (v *VM) createVCPUs() error {
	supported, err := v.sys.GetSupportedCPUID()
	if err != nil {
		return err
	}
	v.exits = make([]lastExit, v.cfg.CPUs)
	if capSync, err := v.sys.CheckExtension(kvm.CapSyncRegs); err == nil {
		v.syncRegs = kvm.SyncRegsSupported(capSync)
	}
	for id := 0; id < v.cfg.CPUs; id++ {
		c, err := v.vm.CreateVCPU(id)
		if err != nil {
			return err
		}
		v.vcpus = append(v.vcpus, c)
		if v.syncRegs {
			c.SyncRegs()
		}
		cpuid, xcr0, err := guestCPUID(supported, id, v.cfg.CPUs)
		if err != nil {
			return err
		}
		if err := c.SetCPUID2(cpuid); err != nil {
			return err
		}
		if err := c.SetFPU(initialFPU()); err != nil {
			return err
		}
		if err := setXCR0(c, xcr0); err != nil {
			// The guest sets its own XCR0 where KVM sees it; only a
			// nested KVM that misses XSETBV needs this one.
			v.log.Warn("guest keeps the RESET XCR0", "vcpu", id, "err", err)
		}
		if err := c.SetMSRs(bootMSRs()); err != nil {
			return err
		}
		if err := setupLAPIC(c); err != nil {
			return err
		}
	}
	return applyEntry(v.vcpus[0], v.entry)
}

// setXCR0 sets XCR0 to the components the vCPU's CPUID offers (see
// boot.GuestXCR0 for why not the RESET value). It comes after SetCPUID2:
// KVM checks XCR0 against the guest's CPUID. A host without XSAVE offers
// none, and XCR0 keeps its RESET value (x87).
func setXCR0(c *kvm.VCPU, xcr0 uint64) error {
	if xcr0 == boot.XCR0X87 {
		return nil
	}
	return c.SetXCR0(xcr0)
}

// setupLAPIC routes LINT0 as ExtINT (the PIC's output) and LINT1 as NMI, as
// a PC's firmware leaves them (Intel MP spec, virtual wire mode).
func setupLAPIC(c *kvm.VCPU) error {
	s, err := c.LAPIC()
	if err != nil {
		return err
	}
	s.SetLVTDelivery(kvm.LAPICRegLINT0, kvm.LVTDeliveryExtINT)
	s.SetLVTDelivery(kvm.LAPICRegLINT1, kvm.LVTDeliveryNMI)
	return c.SetLAPIC(s)
}

// applyEntry loads the boot state into vCPU c.
func applyEntry(c *kvm.VCPU, e boot.EntryState) error {
	s, err := c.Sregs()
	if err != nil {
		return err
	}
	s.CS, s.DS, s.ES, s.FS = segment(e.CS), segment(e.DS), segment(e.ES), segment(e.FS)
	s.GS, s.SS, s.TR, s.LDT = segment(e.GS), segment(e.SS), segment(e.TR), segment(e.LDT)
	s.GDT = kvm.DTable{Base: e.GDT.Base, Limit: e.GDT.Limit}
	s.IDT = kvm.DTable{Base: e.IDT.Base, Limit: e.IDT.Limit}
	s.CR0, s.CR3, s.CR4, s.EFER = e.CR0, e.CR3, e.CR4, e.EFER
	if err := c.SetSregs(s); err != nil {
		return fmt.Errorf("enter kernel: %w", err)
	}
	flags := e.RFLAGS
	if flags == 0 {
		flags = 2 // bit 1 is reserved and reads as one
	}
	return c.SetRegs(kvm.Regs{RIP: e.RIP, RSP: e.RSP, RSI: e.RSI, RBX: e.RBX, RFLAGS: flags})
}

// segment converts a boot segment to KVM's.
func segment(s boot.Segment) kvm.Segment {
	return kvm.Segment{
		Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type,
		Present: s.Present, DPL: s.DPL, DB: s.DB, S: s.S, L: s.L, G: s.G,
		AVL: s.AVL, Unusable: s.Unusable,
	}
}
