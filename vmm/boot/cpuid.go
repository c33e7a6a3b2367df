package boot

import (
	"fmt"
	"math/bits"
)

// CPUIDEntry is one CPUID leaf/subleaf, with the fields of struct
// kvm_cpuid_entry2 (KVM API, KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2). The
// VMM core converts to and from its kvm mirror.
type CPUIDEntry struct {
	Function, Index, Flags uint32
	EAX, EBX, ECX, EDX     uint32
}

// CPUIDFlagSignificantIndex marks an entry whose Index selects a subleaf
// (KVM_CPUID_FLAG_SIGNIFCANT_INDEX).
const CPUIDFlagSignificantIndex = 1

// MaxCPUs is the most vCPUs the boot code describes: xAPIC IDs are 8 bits
// and 0xff is the broadcast ID.
const MaxCPUs = 254

// KVM paravirtual CPUID leaves (kernel Documentation/virt/kvm/x86/cpuid.rst).
const (
	kvmSignatureLeaf = 0x40000000
	kvmFeaturesLeaf  = 0x40000001
	kvmSigEBX        = 0x4b4d564b // "KVMK"
	kvmSigECX        = 0x564b4d56 // "VMKV"
	kvmSigEDX        = 0x0000004d // "M\0\0\0"
)

// KVM feature bits the guest is offered in leaf 0x40000001 EAX, when KVM
// supports them. Each is handled entirely inside the host kernel, so it needs
// nothing from this VMM:
const (
	KVMFeatureClocksource   = 1 << 0  // kvmclock on the legacy MSRs 0x11/0x12
	KVMFeatureNopIODelay    = 1 << 1  // no port 0x80 delays: saves an exit per I/O delay
	KVMFeatureClocksource2  = 1 << 3  // kvmclock on MSRs 0x4b564d00/01 (the one Linux uses)
	KVMFeatureStealTime     = 1 << 5  // steal time accounting, written by KVM
	KVMFeaturePVEOI         = 1 << 6  // EOI without an exit, with the in-kernel LAPIC
	KVMFeaturePVUnhalt      = 1 << 7  // paravirt spinlocks: KVM_HC_KICK_CPU
	KVMFeaturePVTLBFlush    = 1 << 9  // remote TLB flush without IPIs to preempted vCPUs
	KVMFeaturePVSendIPI     = 1 << 11 // multicast IPIs with one hypercall
	KVMFeaturePVSchedYield  = 1 << 13 // yield to a preempted IPI target
	KVMFeatureStableClock   = 1 << 24 // kvmclock is stable across vCPUs (KVM says so when it is)
	kvmFeaturesSafe         = KVMFeatureClocksource | KVMFeatureNopIODelay | KVMFeatureClocksource2 | KVMFeatureStealTime | KVMFeaturePVEOI | KVMFeaturePVUnhalt | KVMFeaturePVTLBFlush | KVMFeaturePVSendIPI | KVMFeaturePVSchedYield | KVMFeatureStableClock
	kvmFeaturesIfUnreported = KVMFeatureClocksource | KVMFeatureNopIODelay | KVMFeatureClocksource2
)

// Not offered, on purpose: async page faults (bits 4, 10, 14: they let the
// guest observe host paging), POLL_CONTROL (12), MSI_EXT_DEST_ID (15: only
// for more than 255 CPUs), HC_MAP_GPA_RANGE (16) and MIGRATION_CONTROL (17)
// (confidential guests and migration), and every hint in EDX
// (KVM_HINTS_REALTIME would promise dedicated physical CPUs).

// CPUID bits patched per vCPU (Intel SDM vol. 2A "CPUID"; AMD APM vol. 3
// appendix E).
const (
	leaf1ECXHypervisor = 1 << 31
	leaf1EDXHTT        = 1 << 28
	topoLevelSMT       = 1
	topoLevelCore      = 2
	vendorAMDEBX       = 0x68747541 // "Auth" (AuthenticAMD)
	vendorHygonEBX     = 0x6f677948 // "Hygo" (HygonGenuine)
)

// PatchCPUID returns a copy of entries (as KVM_GET_SUPPORTED_CPUID reports
// them) patched for vCPU vcpu of count: one package of count cores with one
// thread each, APIC ID = vcpu. It sets:
//
//   - leaf 1: EBX[31:24] initial APIC ID, EBX[23:16] logical processors,
//     EDX HTT when count > 1, ECX bit 31 (running on a hypervisor);
//   - leaf 4: cores per package and sharing of each cache level (Intel);
//   - leaves 0xB and 0x1F: x2APIC ID in EDX and the SMT and core levels;
//   - leaves 0x80000008 ECX and 0x8000001E (AMD): core count and IDs;
//   - leaf 0xD subleaf 0: the state components GuestXCR0 enables, and the
//     size of their XSAVE area in EBX and ECX;
//   - leaves 0x40000000 ("KVMKVMKVM", max leaf 0x40000001) and 0x40000001:
//     the KVM feature bits KVM supports, limited to the KVMFeature* set.
func PatchCPUID(entries []CPUIDEntry, vcpu, count int) ([]CPUIDEntry, error) {
	if count < 1 || count > MaxCPUs {
		return nil, fmt.Errorf("patch CPUID: %d vCPUs, want 1..%d", count, MaxCPUs)
	}
	if vcpu < 0 || vcpu >= count {
		return nil, fmt.Errorf("patch CPUID: vCPU %d of %d", vcpu, count)
	}
	out := append([]CPUIDEntry(nil), entries...)
	amd := false
	for _, e := range out {
		if e.Function == 0 {
			amd = e.EBX == vendorAMDEBX || e.EBX == vendorHygonEBX
		}
	}
	id, n := uint32(vcpu), uint32(count)
	for i := range out {
		e := &out[i]
		switch {
		case e.Function == 1:
			patchLeaf1(e, id, n)
		case e.Function == 4:
			patchLeaf4(e, n)
		case e.Function == 0xb || e.Function == 0x1f:
			patchTopology(e, id, n)
		case e.Function == 0x80000008 && amd:
			e.ECX = e.ECX&^0xf0ff | coreBits(n)<<12 | (n - 1)
		case e.Function == 0x8000001e && amd:
			e.EAX, e.EBX, e.ECX = id, id, 0 // ext APIC ID; core ID, 1 thread/core; node 0 of 1
		}
	}
	out = ensureTopologySubleaves(out, id, n)
	patchLeafXSAVE(out)
	return patchKVMLeaves(out), nil
}

// patchLeaf1 sets the APIC ID, the logical processor count, HTT and the
// hypervisor bit.
func patchLeaf1(e *CPUIDEntry, id, n uint32) {
	e.EBX = e.EBX&0x0000ffff | id<<24 | (n&0xff)<<16
	e.ECX |= leaf1ECXHypervisor
	if n > 1 {
		e.EDX |= leaf1EDXHTT
	} else {
		e.EDX &^= leaf1EDXHTT
	}
}

// patchLeaf4 sets, for a valid cache descriptor, EAX[31:26] (cores per
// package - 1) and EAX[25:14] (logical processors sharing the cache - 1):
// L1 and L2 are per core, L3 is shared by the package.
func patchLeaf4(e *CPUIDEntry, n uint32) {
	if e.EAX&0x1f == 0 { // no more caches
		return
	}
	sharing := uint32(0)
	if e.EAX>>5&7 >= 3 {
		sharing = n - 1
	}
	e.EAX = e.EAX&0x3fff | min(n-1, 63)<<26 | min(sharing, 0xfff)<<14
}

// coreBits returns how many x2APIC ID bits the core level uses.
func coreBits(n uint32) uint32 {
	if n <= 1 {
		return 0
	}
	return uint32(bits.Len32(n - 1))
}

// patchTopology fills one subleaf of the extended topology leaf (0xB or
// 0x1F; Intel SDM vol. 2A): subleaf 0 is the SMT level (1 thread), subleaf 1
// the core level (n cores), and higher subleaves are invalid.
func patchTopology(e *CPUIDEntry, id, n uint32) {
	e.EDX = id
	switch e.Index {
	case 0:
		e.EAX, e.EBX, e.ECX = 0, 1, topoLevelSMT<<8
	case 1:
		e.EAX, e.EBX, e.ECX = coreBits(n), n, topoLevelCore<<8|1
	default:
		e.EAX, e.EBX, e.ECX = 0, 0, e.Index&0xff
	}
}

// ensureTopologySubleaves adds the SMT, core and terminating subleaves of
// 0xB/0x1F when KVM reported the leaf with fewer subleaves.
func ensureTopologySubleaves(out []CPUIDEntry, id, n uint32) []CPUIDEntry {
	for _, f := range []uint32{0xb, 0x1f} {
		have := map[uint32]bool{}
		present := false
		for _, e := range out {
			if e.Function == f {
				present, have[e.Index] = true, true
			}
		}
		if !present {
			continue
		}
		for idx := uint32(0); idx <= 2; idx++ {
			if !have[idx] {
				e := CPUIDEntry{Function: f, Index: idx, Flags: CPUIDFlagSignificantIndex}
				patchTopology(&e, id, n)
				out = append(out, e)
			}
		}
	}
	return out
}

// patchKVMLeaves sets the KVM signature leaf and limits the feature leaf to
// the safe set, adding either leaf when missing.
func patchKVMLeaves(out []CPUIDEntry) []CPUIDEntry {
	sig, feat := -1, -1
	for i, e := range out {
		switch e.Function {
		case kvmSignatureLeaf:
			sig = i
		case kvmFeaturesLeaf:
			feat = i
		}
	}
	features := uint32(kvmFeaturesIfUnreported)
	if feat >= 0 {
		features = out[feat].EAX & kvmFeaturesSafe
	} else {
		out = append(out, CPUIDEntry{Function: kvmFeaturesLeaf})
		feat = len(out) - 1
	}
	out[feat] = CPUIDEntry{Function: kvmFeaturesLeaf, Flags: out[feat].Flags, EAX: features}
	if sig < 0 {
		out = append(out, CPUIDEntry{})
		sig = len(out) - 1
	}
	out[sig] = CPUIDEntry{Function: kvmSignatureLeaf, EAX: kvmFeaturesLeaf, EBX: kvmSigEBX, ECX: kvmSigECX, EDX: kvmSigEDX}
	return out
}
