package kvm

import (
	"testing"
	"unsafe"
)

// TestStructSizes checks every mirrored struct against the size the kernel
// headers give (sizeof on x86-64, include/uapi/linux/kvm.h and
// arch/x86/include/uapi/asm/kvm.h).
func TestStructSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24},
		{"kvm_dtable", unsafe.Sizeof(DTable{}), 16},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"kvm_cpuid2", unsafe.Sizeof(cpuid2{}), 8},
		{"kvm_msr_entry", unsafe.Sizeof(MSREntry{}), 16},
		{"kvm_msrs", unsafe.Sizeof(msrs{}), 8},
		{"kvm_lapic_state", unsafe.Sizeof(LAPICState{}), 1024},
		{"kvm_mp_state", unsafe.Sizeof(mpState{}), 4},
		{"kvm_fpu", unsafe.Sizeof(FPU{}), 416},
		{"kvm_xcr", unsafe.Sizeof(xcr{}), 16},
		{"kvm_xcrs", unsafe.Sizeof(xcrs{}), 392},
		{"kvm_userspace_memory_region", unsafe.Sizeof(userMemoryRegion{}), 32},
		{"kvm_irq_level", unsafe.Sizeof(irqLevel{}), 8},
		{"kvm_irq_routing", unsafe.Sizeof(irqRouting{}), 8},
		{"kvm_irqfd", unsafe.Sizeof(irqFD{}), 32},
		{"kvm_pit_config", unsafe.Sizeof(pitConfig{}), 64},
		{"kvm_ioeventfd", unsafe.Sizeof(ioEventFD{}), 64},
	} {
		if tc.got != tc.want {
			t.Errorf("sizeof(struct %s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	// The sizes encoded in the ioctl numbers must be the mirrors' sizes.
	for _, tc := range []struct {
		name      string
		constant  uintptr
		mirrorLen uintptr
	}{
		{"sizeofRegs", sizeofRegs, unsafe.Sizeof(Regs{})},
		{"sizeofSregs", sizeofSregs, unsafe.Sizeof(Sregs{})},
		{"sizeofSegment", sizeofSegment, unsafe.Sizeof(Segment{})},
		{"sizeofDTable", sizeofDTable, unsafe.Sizeof(DTable{})},
		{"sizeofCPUIDEntry2", sizeofCPUIDEntry2, unsafe.Sizeof(CPUIDEntry{})},
		{"sizeofMSREntry", sizeofMSREntry, unsafe.Sizeof(MSREntry{})},
		{"sizeofIOEventFD", sizeofIOEventFD, unsafe.Sizeof(ioEventFD{})},
		{"sizeofIRQFD", sizeofIRQFD, unsafe.Sizeof(irqFD{})},
		{"sizeofPITConfig", sizeofPITConfig, unsafe.Sizeof(pitConfig{})},
		{"sizeofUserMemoryRegion", sizeofUserMemoryRegion, unsafe.Sizeof(userMemoryRegion{})},
		{"sizeofFPU", sizeofFPU, unsafe.Sizeof(FPU{})},
		{"sizeofXCRs", sizeofXCRs, unsafe.Sizeof(xcrs{})},
	} {
		if tc.constant != tc.mirrorLen {
			t.Errorf("%s = %d, mirror is %d bytes", tc.name, tc.constant, tc.mirrorLen)
		}
	}
}

// TestSregsLayout pins field offsets inside kvm_sregs that the VMM relies on.
func TestSregsLayout(t *testing.T) {
	var s Sregs
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"tr", unsafe.Offsetof(s.TR), 6 * 24},
		{"gdt", unsafe.Offsetof(s.GDT), 8 * 24},
		{"cr0", unsafe.Offsetof(s.CR0), 8*24 + 2*16},
		{"efer", unsafe.Offsetof(s.EFER), 8*24 + 2*16 + 5*8},
		{"apic_base", unsafe.Offsetof(s.APICBase), 8*24 + 2*16 + 6*8},
	} {
		if tc.got != tc.want {
			t.Errorf("offsetof(kvm_sregs.%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestFPULayout pins the kvm_fpu offsets of the fields the VMM sets.
func TestFPULayout(t *testing.T) {
	var f FPU
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"fcw", unsafe.Offsetof(f.FCW), 128},
		{"ftwx", unsafe.Offsetof(f.FTWX), 132},
		{"last_ip", unsafe.Offsetof(f.LastIP), 136},
		{"xmm", unsafe.Offsetof(f.XMM), 152},
		{"mxcsr", unsafe.Offsetof(f.MXCSR), 408},
	} {
		if tc.got != tc.want {
			t.Errorf("offsetof(kvm_fpu.%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
