package vm

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// guestCPUID returns the CPUID table for vCPU id of n: what KVM supports,
// patched by boot.PatchCPUID (APIC IDs, topology, hypervisor bit, XSAVE
// leaf, KVM leaves), and the XCR0 that table implies (boot.GuestXCR0).
func guestCPUID(supported []kvm.CPUIDEntry, id, n int) ([]kvm.CPUIDEntry, uint64, error) {
	in := make([]boot.CPUIDEntry, len(supported))
	for i, e := range supported {
		in[i] = boot.CPUIDEntry{Function: e.Function, Index: e.Index, Flags: e.Flags, EAX: e.EAX, EBX: e.EBX, ECX: e.ECX, EDX: e.EDX}
	}
	patched, err := boot.PatchCPUID(in, id, n)
	if err != nil {
		return nil, 0, fmt.Errorf("cpuid for vcpu %d: %w", id, err)
	}
	out := make([]kvm.CPUIDEntry, len(patched))
	for i, e := range patched {
		out[i] = kvm.CPUIDEntry{Function: e.Function, Index: e.Index, Flags: e.Flags, EAX: e.EAX, EBX: e.EBX, ECX: e.ECX, EDX: e.EDX}
	}
	return out, boot.GuestXCR0(patched), nil
}

// initialFPU is the x87 state every vCPU starts with: the RESET control
// word, everything else zero (see boot.FPUControlWord for MXCSR).
func initialFPU() kvm.FPU {
	return kvm.FPU{FCW: boot.FPUControlWord}
}

// bootMSRs converts boot.BootMSRs to KVM entries.
func bootMSRs() []kvm.MSREntry {
	msrs := boot.BootMSRs()
	out := make([]kvm.MSREntry, len(msrs))
	for i, m := range msrs {
		out[i] = kvm.MSREntry{Index: m.Index, Data: m.Value}
	}
	return out
}
