package kvm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file mirrors the kernel structures passed to KVM ioctls. Layouts come
// from include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h; the size
// test (abi_unsafe_test.go) checks each against the kernel's size.

// Regs is the vCPU's general-purpose register file.
//
// This mirrors struct kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment is one segment register, descriptor cache included.
//
// This mirrors struct kvm_segment.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is a descriptor-table register (GDTR or IDTR).
//
// This mirrors struct kvm_dtable.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is the vCPU's segment and control registers.
//
// This mirrors struct kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	InterruptBitmap        [4]uint64
}

// FPU is the vCPU's x87 and SSE state in FXSAVE layout.
//
// This mirrors struct kvm_fpu.
type FPU struct {
	FPR        [8][16]byte // ST0-ST7 (MM0-MM7), 80 bits each in 16 bytes
	FCW        uint16      // x87 control word
	FSW        uint16      // x87 status word
	FTWX       uint8       // abridged x87 tag word (one bit per register)
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]byte
	MXCSR      uint32 // SSE control and status; KVM_SET_FPU ignores it, KVM_GET_FPU leaves it 0
	_          uint32
}

// xcr is one extended control register (XCR0 is the only one defined).
//
// This mirrors struct kvm_xcr.
type xcr struct {
	xcr   uint32
	_     uint32
	value uint64
}

// maxXCRs is KVM_MAX_XCRS, the capacity of struct kvm_xcrs.
const maxXCRs = 16

// xcrs is a list of extended control registers.
//
// This mirrors struct kvm_xcrs.
type xcrs struct {
	nrXCRs uint32
	flags  uint32
	xcrs   [maxXCRs]xcr
	_      [16]uint64
}

// CPUIDEntry is one CPUID leaf (function, index) and its output registers.
//
// This mirrors struct kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// CPUIDFlagSignificantIndex is KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the leaf's
// output depends on Index (ECX).
const CPUIDFlagSignificantIndex = 1

// cpuid2 is the header of a CPUID entry list; entries follow it.
//
// This mirrors struct kvm_cpuid2.
type cpuid2 struct {
	nent uint32
	_    uint32
}

// MSREntry is one model-specific register and its value.
//
// This mirrors struct kvm_msr_entry.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// msrs is the header of an MSR list; entries follow it.
//
// This mirrors struct kvm_msrs.
type msrs struct {
	nmsrs uint32
	_     uint32
}

// LAPICState is the local APIC register page.
//
// This mirrors struct kvm_lapic_state.
type LAPICState struct {
	Regs [1024]byte
}

// mpState is a vCPU's multiprocessing state.
//
// This mirrors struct kvm_mp_state.
type mpState struct {
	state uint32
}

// userMemoryRegion maps host memory into the guest physical space.
//
// This mirrors struct kvm_userspace_memory_region.
type userMemoryRegion struct {
	slot          uint32
	flags         uint32
	guestPhysAddr uint64
	memorySize    uint64
	userspaceAddr uint64
}

// irqLevel sets the level of one interrupt line.
//
// This mirrors struct kvm_irq_level.
type irqLevel struct {
	irq   uint32
	level uint32
}

// irqRouting is the header of a GSI routing table.
//
// This mirrors struct kvm_irq_routing.
type irqRouting struct {
	nr    uint32
	flags uint32
}

// irqFD binds an eventfd to a GSI.
//
// This mirrors struct kvm_irqfd.
type irqFD struct {
	fd         uint32
	gsi        uint32
	flags      uint32
	resampleFD uint32
	_          [16]uint8
}

// pitConfig configures the in-kernel i8254.
//
// This mirrors struct kvm_pit_config.
type pitConfig struct {
	flags uint32
	_     [15]uint32
}

// ioEventFD binds an eventfd to a guest write of an I/O or MMIO address.
//
// This mirrors struct kvm_ioeventfd.
type ioEventFD struct {
	datamatch uint64
	addr      uint64
	len       uint32
	fd        int32
	flags     uint32
	_         [36]uint8
}

// ioctlPtr issues an ioctl whose argument is a pointer, retrying on EINTR.
// The pointer is converted in the Syscall expression itself, as the unsafe
// rules require, so the object it points to stays live and unmoved.
func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

// runOnce issues a single KVM_RUN without retrying EINTR, which is how a
// kick (a signal plus immediate_exit) gets the vCPU thread back.
func runOnce(fd int) unix.Errno {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), reqRun, 0)
	return errno
}
