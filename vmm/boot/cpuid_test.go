package boot

import (
	"testing"
)

// amdSupported is a trimmed KVM_GET_SUPPORTED_CPUID answer from an AMD EPYC
// host: vendor, leaf 1 with host APIC ID 7 in EBX, leaf 0xB with only
// subleaf 0, the AMD topology leaves and KVM's own leaves with bits the
// guest must not get (async PF 4, MSI_EXT_DEST_ID 15, hints in EDX).
func amdSupported() []CPUIDEntry {
	return []CPUIDEntry{
		{Function: 0, EAX: 0x10, EBX: 0x68747541, ECX: 0x444d4163, EDX: 0x69746e65},
		{Function: 1, EAX: 0x830f10, EBX: 0x07020800, ECX: 0x7ed8320b, EDX: 0x178bfbff},
		{Function: 0xb, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 7},
		{Function: 0x80000008, EAX: 0x3030, ECX: 0x000f},
		{Function: 0x8000001e, EAX: 7, EBX: 0x0103, ECX: 0x0100},
		{Function: 0x40000000, EAX: 0x40000001, EBX: kvmSigEBX, ECX: kvmSigECX, EDX: kvmSigEDX},
		{Function: 0x40000001, EAX: 0x0100ffff | 1<<15, EDX: 1},
	}
}

// find returns the entry for (function, index) or fails.
func find(t *testing.T, es []CPUIDEntry, fn, idx uint32) CPUIDEntry {
	t.Helper()
	for _, e := range es {
		if e.Function == fn && e.Index == idx {
			return e
		}
	}
	t.Fatalf("no CPUID entry %#x/%d", fn, idx)
	return CPUIDEntry{}
}

func TestPatchCPUIDLeaf1(t *testing.T) {
	in := amdSupported()
	for _, tc := range []struct{ vcpu, count int }{{0, 1}, {2, 4}, {5, 6}} {
		out, err := PatchCPUID(in, tc.vcpu, tc.count)
		if err != nil {
			t.Fatal(err)
		}
		l1 := find(t, out, 1, 0)
		if l1.EBX>>24 != uint32(tc.vcpu) || l1.EBX>>16&0xff != uint32(tc.count) || l1.EBX&0xffff != 0x0800 {
			t.Errorf("vcpu %d/%d: leaf 1 EBX %#x", tc.vcpu, tc.count, l1.EBX)
		}
		if l1.ECX&(1<<31) == 0 || l1.ECX&^(1<<31) != 0x7ed8320b {
			t.Errorf("leaf 1 ECX %#x: hypervisor bit or other bits wrong", l1.ECX)
		}
		if htt := l1.EDX&(1<<28) != 0; htt != (tc.count > 1) {
			t.Errorf("%d vCPUs: HTT %v", tc.count, htt)
		}
	}
	if in[1].EBX != 0x07020800 {
		t.Error("PatchCPUID modified its input")
	}
}

func TestPatchCPUIDTopology(t *testing.T) {
	out, err := PatchCPUID(amdSupported(), 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	smt, core, end := find(t, out, 0xb, 0), find(t, out, 0xb, 1), find(t, out, 0xb, 2)
	if smt.EAX != 0 || smt.EBX != 1 || smt.ECX != 0x100 || smt.EDX != 3 {
		t.Errorf("SMT level %+v", smt)
	}
	if core.EAX != 2 || core.EBX != 4 || core.ECX != 0x201 || core.EDX != 3 || core.Flags != CPUIDFlagSignificantIndex {
		t.Errorf("core level %+v", core)
	}
	if end.EBX != 0 || end.ECX>>8&0xff != 0 || end.EDX != 3 {
		t.Errorf("terminating level %+v", end)
	}
	if e := find(t, out, 0x80000008, 0); e.ECX&0xff != 3 || e.ECX>>12&0xf != 2 {
		t.Errorf("0x80000008 ECX %#x", e.ECX)
	}
	if e := find(t, out, 0x8000001e, 0); e.EAX != 3 || e.EBX != 3 || e.ECX != 0 {
		t.Errorf("0x8000001e %+v", e)
	}
	// 5 cores need 3 ID bits at the core level.
	out, _ = PatchCPUID(amdSupported(), 0, 5)
	if e := find(t, out, 0xb, 1); e.EAX != 3 {
		t.Errorf("5 cores: shift %d", e.EAX)
	}
}

func TestPatchCPUIDLeaf4(t *testing.T) {
	in := []CPUIDEntry{
		{Function: 0, EBX: 0x756e6547},                     // GenuineIntel
		{Function: 4, Index: 0, Flags: 1, EAX: 0x1c004121}, // L1d, host says 8 cores, 2 sharing
		{Function: 4, Index: 3, Flags: 1, EAX: 0x1c03c163}, // L3, 16 sharing
		{Function: 4, Index: 4, Flags: 1, EAX: 0},          // end
		{Function: 0x80000008, EAX: 0x3027, ECX: 0x1234},   // Intel: must stay
	}
	out, err := PatchCPUID(in, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if e := find(t, out, 4, 0); e.EAX>>26 != 3 || e.EAX>>14&0xfff != 0 || e.EAX&0x3fff != 0x0121 {
		t.Errorf("L1 leaf 4 EAX %#x", e.EAX)
	}
	if e := find(t, out, 4, 3); e.EAX>>26 != 3 || e.EAX>>14&0xfff != 3 || e.EAX&0x3fff != 0x0163 {
		t.Errorf("L3 leaf 4 EAX %#x", e.EAX)
	}
	if e := find(t, out, 4, 4); e.EAX != 0 {
		t.Errorf("terminating leaf 4 changed: %#x", e.EAX)
	}
	if e := find(t, out, 0x80000008, 0); e.ECX != 0x1234 {
		t.Errorf("AMD leaf patched on Intel: %#x", e.ECX)
	}
}

func TestPatchCPUIDKVMLeaves(t *testing.T) {
	out, err := PatchCPUID(amdSupported(), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	sig := find(t, out, 0x40000000, 0)
	var name []byte
	for _, r := range []uint32{sig.EBX, sig.ECX, sig.EDX} {
		name = append(name, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	if string(name) != "KVMKVMKVM\x00\x00\x00" || sig.EAX != 0x40000001 {
		t.Errorf("signature %q max %#x", name, sig.EAX)
	}
	f := find(t, out, 0x40000001, 0)
	want := uint32(KVMFeatureClocksource | KVMFeatureNopIODelay | KVMFeatureClocksource2 | KVMFeatureStealTime |
		KVMFeaturePVEOI | KVMFeaturePVUnhalt | KVMFeaturePVTLBFlush | KVMFeaturePVSendIPI | KVMFeaturePVSchedYield | KVMFeatureStableClock)
	if f.EAX != want || f.EDX != 0 {
		t.Errorf("features %#x hints %#x, want %#x and no hints", f.EAX, f.EDX, want)
	}
	// A KVM that does not support a safe bit does not get it offered.
	in := amdSupported()
	in[len(in)-1].EAX = KVMFeatureClocksource2
	out, _ = PatchCPUID(in, 0, 1)
	if f := find(t, out, 0x40000001, 0); f.EAX != KVMFeatureClocksource2 {
		t.Errorf("unsupported features offered: %#x", f.EAX)
	}
	// Missing leaves are added, once.
	out, _ = PatchCPUID(amdSupported()[:2], 0, 1)
	n := 0
	for _, e := range out {
		if e.Function>>28 == 4 {
			n++
		}
	}
	if n != 2 || find(t, out, 0x40000001, 0).EAX != kvmFeaturesIfUnreported {
		t.Errorf("added KVM leaves: %d, %+v", n, out)
	}
}

func TestPatchCPUIDRefuses(t *testing.T) {
	for _, tc := range []struct{ vcpu, count int }{{0, 0}, {1, 1}, {-1, 2}, {0, 255}} {
		if _, err := PatchCPUID(amdSupported(), tc.vcpu, tc.count); err == nil {
			t.Errorf("vcpu %d of %d accepted", tc.vcpu, tc.count)
		}
	}
}

func TestBootMSRs(t *testing.T) {
	want := map[uint32]uint64{0x174: 0, 0x175: 0, 0x176: 0, 0xc0000081: 0, 0xc0000082: 0, 0xc0000083: 0,
		0xc0000084: 0, 0xc0000102: 0, 0x10: 0, 0x1a0: 1, 0x2ff: 0x806}
	got := BootMSRs()
	if len(got) != len(want) {
		t.Fatalf("%d MSRs, want %d", len(got), len(want))
	}
	for _, m := range got {
		if v, ok := want[m.Index]; !ok || v != m.Value {
			t.Errorf("MSR %#x = %#x", m.Index, m.Value)
		}
	}
}
