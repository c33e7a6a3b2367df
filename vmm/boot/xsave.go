package boot

// XSAVE state components (Intel SDM vol. 1, §13.1 "XSAVE-supported
// features and state-component bitmaps"; AMD APM vol. 2, §11.5).
const (
	XCR0X87    = 1 << 0 // x87 FPU state; XCR0 bit 0 must always be set
	XCR0SSE    = 1 << 1 // XMM registers and MXCSR
	XCR0AVX    = 1 << 2 // upper halves of YMM0-15
	xcr0MPX    = 3 << 3 // BNDREGS and BNDCSR
	xcr0AVX512 = 7 << 5 // opmask, ZMM_Hi256, Hi16_ZMM
	xcr0PKRU   = 1 << 9
	xcr0AMX    = 3 << 17 // XTILECFG and XTILEDATA
)

// FPUControlWord is the x87 control word after RESET/FNINIT (Intel SDM
// vol. 1, §8.1.5): all x87 exceptions masked, 64-bit precision, round to
// nearest. (MXCSR's default, 0x1f80, cannot be set this way: KVM_SET_FPU
// ignores the mxcsr field and KVM_GET_FPU leaves it 0; KVM initialises the
// guest's MXCSR to 0x1f80 itself when it creates the vCPU.)
const FPUControlWord = 0x37f

// CPUID bits that gate XSAVE state components.
const (
	leaf1ECXXSAVE    = 1 << 26
	leaf1ECXAVX      = 1 << 28
	leaf7EBXMPX      = 1 << 14
	leaf7EBXAVX512F  = 1 << 16
	leaf7ECXPKU      = 1 << 3
	leaf7EDXAMXTile  = 1 << 24
	leafXSAVE        = 0xd
	xsaveLegacyBytes = 512 + 64 // FXSAVE area and XSAVE header
)

// GuestXCR0 returns the XCR0 value a vCPU with CPUID table entries starts
// with: every user state component leaf 0xD subleaf 0 offers whose feature
// leaves 1 and 7 also offer, which is exactly the set a Linux guest enables
// with XSETBV (fpu__init_system_xstate drops a component whose feature
// bit is clear). It is x87 alone when leaf 1 offers no XSAVE.
//
// Architecturally XCR0 resets to x87 alone, and on hardware KVM intercepts
// the guest's XSETBV, so what the VMM sets is replaced before it matters.
// Set it anyway: the virtual rack's L0 (QEMU TCG with nested SVM) does not
// implement the XSETBV intercept, so the L1 KVM never learns the guest's
// XCR0. KVM then keeps the value set here, recomputes CPUID 0xD.0 EBX (the
// XSAVE area size) from it when the guest sets CR4.OSXSAVE, and loads it
// into XCR0 at every VM entry. With the reset value that was 576 bytes
// (x87+SSE) while the guest had enabled AVX (832 bytes): every Debian
// kernel boot, under this VMM and under QEMU alike, printed "XSAVE
// consistency problem: size 832 != kernel_size 576" and ran without XSAVE.
func GuestXCR0(entries []CPUIDEntry) uint64 {
	var l1, l7, d0 *CPUIDEntry
	for i := range entries {
		e := &entries[i]
		switch {
		case e.Function == 1:
			l1 = e
		case e.Function == 7 && e.Index == 0:
			l7 = e
		case e.Function == leafXSAVE && e.Index == 0:
			d0 = e
		}
	}
	if l1 == nil || d0 == nil || l1.ECX&leaf1ECXXSAVE == 0 {
		return XCR0X87
	}
	offered := uint64(d0.EAX) | uint64(d0.EDX)<<32
	if offered&(XCR0X87|XCR0SSE) != XCR0X87|XCR0SSE {
		return XCR0X87
	}
	var l7b, l7c, l7d uint32
	if l7 != nil {
		l7b, l7c, l7d = l7.EBX, l7.ECX, l7.EDX
	}
	x := uint64(XCR0X87 | XCR0SSE)
	if l1.ECX&leaf1ECXAVX != 0 && offered&XCR0AVX != 0 {
		x |= XCR0AVX
		// AVX-512 needs AVX, and its three components go together.
		if l7b&leaf7EBXAVX512F != 0 && offered&xcr0AVX512 == xcr0AVX512 {
			x |= xcr0AVX512
		}
	}
	if l7b&leaf7EBXMPX != 0 && offered&xcr0MPX == xcr0MPX {
		x |= xcr0MPX
	}
	if l7c&leaf7ECXPKU != 0 && offered&xcr0PKRU != 0 {
		x |= xcr0PKRU
	}
	if l7d&leaf7EDXAMXTile != 0 && offered&xcr0AMX == xcr0AMX {
		x |= xcr0AMX
	}
	return x
}

// XSAVESize returns the size of a standard-format XSAVE area holding the
// components in xcr0, from the offsets and sizes in the leaf 0xD subleaves
// of entries; that is what CPUID 0xD.0 EBX reports when XCR0 = xcr0.
func XSAVESize(entries []CPUIDEntry, xcr0 uint64) uint32 {
	size := uint32(xsaveLegacyBytes)
	for _, e := range entries {
		if e.Function != leafXSAVE || e.Index < 2 || e.Index > 63 || xcr0&(1<<e.Index) == 0 {
			continue
		}
		size = max(size, e.EBX+e.EAX) // EBX offset, EAX size
	}
	return size
}

// patchLeafXSAVE limits leaf 0xD subleaf 0 to the components GuestXCR0
// enables, with EBX and ECX the size of their XSAVE area, so the guest's
// own sizing agrees with the XCR0 the VMM sets.
func patchLeafXSAVE(out []CPUIDEntry) {
	x := GuestXCR0(out)
	for i := range out {
		e := &out[i]
		if e.Function == leafXSAVE && e.Index == 0 {
			e.EAX &= uint32(x)
			e.EDX &= uint32(x >> 32)
			e.EBX = XSAVESize(out, x)
			e.ECX = e.EBX
		}
	}
}
