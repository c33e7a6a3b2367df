package kvm

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// setImmediateExit sets or clears kvm_run.immediate_exit. The byte shares an
// aligned 32-bit word with request_interrupt_window and padding, which only
// this helper writes, so an atomic word update is race-free against Kick.
func (c *VCPU) setImmediateExit(on bool) {
	w := (*uint32)(unsafe.Pointer(&c.run[0]))
	const mask = 0xff << (8 * runImmediateExit) // little-endian byte 1
	for {
		old := atomic.LoadUint32(w)
		nw := old &^ mask
		if on {
			nw |= 1 << (8 * runImmediateExit)
		}
		if old == nw || atomic.CompareAndSwapUint32(w, old, nw) {
			return
		}
	}
}

// Regs returns the general-purpose registers.
func (c *VCPU) Regs() (Regs, error) {
	var r Regs
	if _, err := ioctlPtr(c.fd, reqGetRegs, unsafe.Pointer(&r)); err != nil {
		return r, fmt.Errorf("get regs of vcpu %d: %w", c.id, err)
	}
	return r, nil
}

// SetRegs sets the general-purpose registers.
func (c *VCPU) SetRegs(r Regs) error {
	if _, err := ioctlPtr(c.fd, reqSetRegs, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("set regs of vcpu %d: %w", c.id, err)
	}
	return nil
}

// Sregs returns the segment and control registers.
func (c *VCPU) Sregs() (Sregs, error) {
	var s Sregs
	if _, err := ioctlPtr(c.fd, reqGetSregs, unsafe.Pointer(&s)); err != nil {
		return s, fmt.Errorf("get sregs of vcpu %d: %w", c.id, err)
	}
	return s, nil
}

// SetSregs sets the segment and control registers.
func (c *VCPU) SetSregs(s Sregs) error {
	if _, err := ioctlPtr(c.fd, reqSetSregs, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("set sregs of vcpu %d: %w", c.id, err)
	}
	return nil
}

// SetCPUID2 sets the CPUID leaves the guest sees on this vCPU.
func (c *VCPU) SetCPUID2(entries []CPUIDEntry) error {
	buf := make([]byte, sizeofCPUID2+len(entries)*sizeofCPUIDEntry2)
	(*cpuid2)(unsafe.Pointer(&buf[0])).nent = uint32(len(entries))
	if len(entries) > 0 {
		copy(unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[sizeofCPUID2])), len(entries)), entries)
	}
	if _, err := ioctlPtr(c.fd, reqSetCPUID2, unsafe.Pointer(&buf[0])); err != nil {
		return fmt.Errorf("set cpuid of vcpu %d (%d entries): %w", c.id, len(entries), err)
	}
	return nil
}

// msrBuf lays out a kvm_msrs header followed by entries.
func msrBuf(entries []MSREntry) []byte {
	buf := make([]byte, sizeofMSRs+len(entries)*sizeofMSREntry)
	(*msrs)(unsafe.Pointer(&buf[0])).nmsrs = uint32(len(entries))
	if len(entries) > 0 {
		copy(unsafe.Slice((*MSREntry)(unsafe.Pointer(&buf[sizeofMSRs])), len(entries)), entries)
	}
	return buf
}

// SetMSRs writes model-specific registers. KVM stops at the first one it
// rejects; that is reported as an error naming it.
func (c *VCPU) SetMSRs(entries []MSREntry) error {
	buf := msrBuf(entries)
	n, err := ioctlPtr(c.fd, reqSetMSRs, unsafe.Pointer(&buf[0]))
	if err != nil {
		return fmt.Errorf("set msrs of vcpu %d: %w", c.id, err)
	}
	if int(n) != len(entries) {
		return fmt.Errorf("set msrs of vcpu %d: KVM rejected msr %#x", c.id, entries[n].Index)
	}
	return nil
}

// MSRs reads the model-specific registers named by the Index of each entry
// and returns them with Data filled in.
func (c *VCPU) MSRs(indexes []uint32) ([]MSREntry, error) {
	entries := make([]MSREntry, len(indexes))
	for i, ix := range indexes {
		entries[i].Index = ix
	}
	buf := msrBuf(entries)
	n, err := ioctlPtr(c.fd, reqGetMSRs, unsafe.Pointer(&buf[0]))
	if err != nil {
		return nil, fmt.Errorf("get msrs of vcpu %d: %w", c.id, err)
	}
	if int(n) != len(entries) {
		return nil, fmt.Errorf("get msrs of vcpu %d: KVM rejected msr %#x", c.id, indexes[n])
	}
	copy(entries, unsafe.Slice((*MSREntry)(unsafe.Pointer(&buf[sizeofMSRs])), len(entries)))
	return entries, nil
}

// LAPIC returns the local APIC register page.
func (c *VCPU) LAPIC() (LAPICState, error) {
	var s LAPICState
	if _, err := ioctlPtr(c.fd, reqGetLAPIC, unsafe.Pointer(&s)); err != nil {
		return s, fmt.Errorf("get lapic of vcpu %d: %w", c.id, err)
	}
	return s, nil
}

// SetLAPIC sets the local APIC register page.
func (c *VCPU) SetLAPIC(s LAPICState) error {
	if _, err := ioctlPtr(c.fd, reqSetLAPIC, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("set lapic of vcpu %d: %w", c.id, err)
	}
	return nil
}

// MPState returns the vCPU's multiprocessing state.
func (c *VCPU) MPState() (MPState, error) {
	var s mpState
	if _, err := ioctlPtr(c.fd, reqGetMPState, unsafe.Pointer(&s)); err != nil {
		return 0, fmt.Errorf("get mp state of vcpu %d: %w", c.id, err)
	}
	return MPState(s.state), nil
}

// SetMPState sets the vCPU's multiprocessing state.
func (c *VCPU) SetMPState(st MPState) error {
	s := mpState{state: uint32(st)}
	if _, err := ioctlPtr(c.fd, reqSetMPState, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("set mp state %d of vcpu %d: %w", st, c.id, err)
	}
	return nil
}

// FPU returns the x87 and SSE state.
func (c *VCPU) FPU() (FPU, error) {
	var f FPU
	if _, err := ioctlPtr(c.fd, reqGetFPU, unsafe.Pointer(&f)); err != nil {
		return f, fmt.Errorf("get fpu of vcpu %d: %w", c.id, err)
	}
	return f, nil
}

// SetFPU sets the x87 and SSE state.
func (c *VCPU) SetFPU(f FPU) error {
	if _, err := ioctlPtr(c.fd, reqSetFPU, unsafe.Pointer(&f)); err != nil {
		return fmt.Errorf("set fpu of vcpu %d: %w", c.id, err)
	}
	return nil
}

// XCR0 returns the extended control register XCR0 as KVM holds it: the
// state components XSAVE manages for the guest.
func (c *VCPU) XCR0() (uint64, error) {
	var x xcrs
	if _, err := ioctlPtr(c.fd, reqGetXCRS, unsafe.Pointer(&x)); err != nil {
		return 0, fmt.Errorf("get xcrs of vcpu %d: %w", c.id, err)
	}
	for _, r := range x.xcrs[:min(x.nrXCRs, maxXCRs)] {
		if r.xcr == 0 {
			return r.value, nil
		}
	}
	return 0, fmt.Errorf("get xcrs of vcpu %d: no XCR0 among %d registers", c.id, x.nrXCRs)
}

// SetXCR0 sets XCR0. KVM refuses a value without x87 (bit 0), with AVX
// but not SSE, or with components the guest's CPUID does not offer, so
// call it after SetCPUID2.
func (c *VCPU) SetXCR0(v uint64) error {
	x := xcrs{nrXCRs: 1}
	x.xcrs[0] = xcr{xcr: 0, value: v}
	if _, err := ioctlPtr(c.fd, reqSetXCRS, unsafe.Pointer(&x)); err != nil {
		return fmt.Errorf("set xcr0 %#x of vcpu %d: %w", v, c.id, err)
	}
	return nil
}

// SyncedRegs returns the general-purpose registers KVM stored in the run
// area at the last exit, after SyncRegs. A KVM shutdown exit on AMD stores
// the INIT values (KVM re-initialises the vCPU first), so keep the ones of
// the exit before.
func (c *VCPU) SyncedRegs() Regs {
	return *(*Regs)(unsafe.Pointer(&c.run[runSyncRegs]))
}
