package vm

import "github.com/ironvisor/ironvisor/vmm/kvm"

// CPUID bits the VMM sets (Intel SDM vol. 2A, CPUID).
const (
	cpuid1ECXHypervisor = 1 << 31 // leaf 1 ECX: running under a hypervisor
	cpuid1EDXHTT        = 1 << 28 // leaf 1 EDX: more than one logical CPU
)

// guestCPUID returns the CPUID table for vCPU id of n: what KVM supports,
// with the APIC ID and logical CPU count in leaf 1, the x2APIC ID in leaf
// 0xB, and the hypervisor bit set. KVM's supported list already carries its
// signature leaves 0x40000000/0x40000001 ("KVMKVMKVM", PV features), which
// the guest needs to use kvmclock.
func guestCPUID(supported []kvm.CPUIDEntry, id, n int) []kvm.CPUIDEntry {
	out := make([]kvm.CPUIDEntry, len(supported))
	copy(out, supported)
	for i := range out {
		e := &out[i]
		switch e.Function {
		case 1:
			e.EBX = e.EBX&0x0000ffff | uint32(n)<<16 | uint32(id)<<24
			e.ECX |= cpuid1ECXHypervisor
			if n > 1 {
				e.EDX |= cpuid1EDXHTT
			}
		case 0xb, 0x1f:
			e.EDX = uint32(id)
		}
	}
	return out
}

// Boot MSRs (Intel SDM vol. 4): the SYSENTER and SYSCALL MSRs cleared, TSC
// at zero, fast strings enabled, and MTRRs on with write-back as default.
func bootMSRs() []kvm.MSREntry {
	return []kvm.MSREntry{
		{Index: 0x174},                  // IA32_SYSENTER_CS
		{Index: 0x175},                  // IA32_SYSENTER_ESP
		{Index: 0x176},                  // IA32_SYSENTER_EIP
		{Index: 0xc0000081},             // STAR
		{Index: 0xc0000082},             // LSTAR
		{Index: 0xc0000083},             // CSTAR
		{Index: 0xc0000084},             // SFMASK
		{Index: 0xc0000102},             // KERNEL_GS_BASE
		{Index: 0x10},                   // IA32_TSC
		{Index: 0x1a0, Data: 1},         // IA32_MISC_ENABLE: fast strings
		{Index: 0x2ff, Data: 1<<11 | 6}, // IA32_MTRR_DEF_TYPE: enabled, WB
	}
}
