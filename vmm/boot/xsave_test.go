package boot

import "testing"

// tcgEPYCSupported is the part of KVM_GET_SUPPORTED_CPUID that concerns
// XSAVE in an L1 of the virtual rack (QEMU TCG, -cpu EPYC,+svm, kvm-amd):
// XSAVE and AVX in leaf 1, AVX2 but no AVX-512 in leaf 7, and leaf 0xD with
// x87, SSE and AVX, the size of all three (832) in EBX and ECX, XSAVEOPT in
// 0xD.1, and AVX's 256 bytes at offset 576 in 0xD.2.
func tcgEPYCSupported() []CPUIDEntry {
	return []CPUIDEntry{
		{Function: 0, EAX: 0xd, EBX: vendorAMDEBX},
		{Function: 1, EAX: 0x800f12, ECX: 0x96d82203 | leaf1ECXXSAVE | leaf1ECXAVX, EDX: 0x178bfbff},
		{Function: 7, Flags: CPUIDFlagSignificantIndex, EBX: 0x209c01a9},
		{Function: 0xd, Index: 0, Flags: CPUIDFlagSignificantIndex, EAX: 7, EBX: 832, ECX: 832},
		{Function: 0xd, Index: 1, Flags: CPUIDFlagSignificantIndex, EAX: 1},
		{Function: 0xd, Index: 2, Flags: CPUIDFlagSignificantIndex, EAX: 256, EBX: 576},
	}
}

// linuxXSAVESize is what Linux's paranoid_xstate_size_valid computes for the
// components it enables (arch/x86/kernel/fpu/xstate.c): the end of the last
// enabled component's area, from the 0xD subleaves. The VMM's XCR0 and
// 0xD.0 EBX must agree with it or the guest disables XSAVE.
func linuxXSAVESize(es []CPUIDEntry, enabled uint64) uint32 {
	size := uint32(576)
	for i := uint32(2); i < 64; i++ {
		if enabled&(1<<i) == 0 {
			continue
		}
		for _, e := range es {
			if e.Function == 0xd && e.Index == i {
				size = e.EBX + e.EAX
			}
		}
	}
	return size
}

// TestGuestXCR0NestedTCG is the regression test for the "XSAVE consistency
// problem: size 832 != kernel_size 576" of every Debian boot in the rack:
// the XCR0 a vCPU starts with must be the set of components the guest
// will enable (x87, SSE, AVX there), not the RESET value x87, and CPUID
// 0xD.0 EBX for it must be the size Linux computes.
func TestGuestXCR0NestedTCG(t *testing.T) {
	out, err := PatchCPUID(tcgEPYCSupported(), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	x := GuestXCR0(out)
	if x != XCR0X87|XCR0SSE|XCR0AVX {
		t.Fatalf("GuestXCR0 = %#x, want %#x (x87|SSE|AVX)", x, XCR0X87|XCR0SSE|XCR0AVX)
	}
	d0 := find(t, out, 0xd, 0)
	if uint64(d0.EAX)|uint64(d0.EDX)<<32 != x {
		t.Errorf("leaf 0xD.0 offers %#x:%#x, XCR0 is %#x", d0.EDX, d0.EAX, x)
	}
	if want := linuxXSAVESize(out, x); d0.EBX != want || d0.ECX != want || XSAVESize(out, x) != want {
		t.Errorf("leaf 0xD.0 EBX %d ECX %d XSAVESize %d, Linux computes %d", d0.EBX, d0.ECX, XSAVESize(out, x), want)
	}
}

// TestGuestXCR0FollowsFeatureLeaves: a component whose feature bit is
// clear is neither offered in leaf 0xD nor set in XCR0, as Linux would not
// enable it; without XSAVE in leaf 1 XCR0 stays x87.
func TestGuestXCR0FollowsFeatureLeaves(t *testing.T) {
	noAVX := tcgEPYCSupported()
	noAVX[1].ECX &^= leaf1ECXAVX
	out, err := PatchCPUID(noAVX, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if x := GuestXCR0(out); x != XCR0X87|XCR0SSE {
		t.Errorf("no AVX: XCR0 %#x, want x87|SSE", x)
	}
	if d0 := find(t, out, 0xd, 0); d0.EAX != 3 || d0.EBX != 576 || d0.ECX != 576 {
		t.Errorf("no AVX: leaf 0xD.0 %+v, want EAX 3, EBX = ECX = 576", d0)
	}

	noXSAVE := tcgEPYCSupported()
	noXSAVE[1].ECX &^= leaf1ECXXSAVE
	if x := GuestXCR0(noXSAVE); x != XCR0X87 {
		t.Errorf("no XSAVE: XCR0 %#x, want x87", x)
	}
	if x := GuestXCR0(nil); x != XCR0X87 {
		t.Errorf("empty table: XCR0 %#x, want x87", x)
	}

	avx512 := append(tcgEPYCSupported(),
		CPUIDEntry{Function: 0xd, Index: 5, Flags: 1, EAX: 64, EBX: 1088},
		CPUIDEntry{Function: 0xd, Index: 6, Flags: 1, EAX: 512, EBX: 1152},
		CPUIDEntry{Function: 0xd, Index: 7, Flags: 1, EAX: 1024, EBX: 1664},
		CPUIDEntry{Function: 0xd, Index: 9, Flags: 1, EAX: 8, EBX: 2688})
	avx512[2].EBX |= leaf7EBXAVX512F
	avx512[2].ECX |= leaf7ECXPKU
	avx512[3].EAX = 0x2e7
	if x := GuestXCR0(avx512); x != 0x2e7 {
		t.Errorf("AVX-512 and PKU: XCR0 %#x, want 0x2e7", x)
	}
	if s := XSAVESize(avx512, 0x2e7); s != 2696 {
		t.Errorf("AVX-512 and PKU: size %d, want 2696", s)
	}
	avx512[2].EBX &^= leaf7EBXAVX512F
	if x := GuestXCR0(avx512); x != 0x207 {
		t.Errorf("AVX-512 components without AVX512F: XCR0 %#x, want 0x207", x)
	}
}
