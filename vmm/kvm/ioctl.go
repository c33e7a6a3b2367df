package kvm

// ioctl request encoding, from include/uapi/asm-generic/ioctl.h.
const (
	iocNRBits   = 8
	iocTypeBits = 8
	iocSizeBits = 14

	iocNRShift   = 0
	iocTypeShift = iocNRShift + iocNRBits
	iocSizeShift = iocTypeShift + iocTypeBits
	iocDirShift  = iocSizeShift + iocSizeBits

	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	// kvmIO is KVMIO, the ioctl type byte of every KVM request.
	kvmIO = 0xAE
)

// ioc mirrors the kernel's _IOC macro.
func ioc(dir, typ, nr, size uintptr) uintptr {
	return dir<<iocDirShift | typ<<iocTypeShift | nr<<iocNRShift | size<<iocSizeShift
}

// io mirrors _IO(KVMIO, nr).
func io(nr uintptr) uintptr { return ioc(iocNone, kvmIO, nr, 0) }

// ior mirrors _IOR(KVMIO, nr, size).
func ior(nr, size uintptr) uintptr { return ioc(iocRead, kvmIO, nr, size) }

// iow mirrors _IOW(KVMIO, nr, size).
func iow(nr, size uintptr) uintptr { return ioc(iocWrite, kvmIO, nr, size) }

// iowr mirrors _IOWR(KVMIO, nr, size).
func iowr(nr, size uintptr) uintptr { return ioc(iocRead|iocWrite, kvmIO, nr, size) }

// System ioctls (include/uapi/linux/kvm.h).
var (
	reqGetAPIVersion  = io(0x00)
	reqCreateVM       = io(0x01)
	reqCheckExtension = io(0x03)
)

// apiVersion is KVM_API_VERSION, the only version the kernel has ever had.
const apiVersion = 12

// VM, vCPU and capability ioctls, from include/uapi/linux/kvm.h. The sizes
// are those of the mirrored structs (see abi_unsafe.go); TestIoctlNumbers
// pins every value to the kernel header.
var (
	reqGetVCPUMmapSize     = io(0x04)
	reqGetSupportedCPUID   = iowr(0x05, sizeofCPUID2)
	reqCreateVCPU          = io(0x41)
	reqSetUserMemoryRegion = iow(0x46, sizeofUserMemoryRegion)
	reqSetTSSAddr          = io(0x47)
	reqSetIdentityMapAddr  = iow(0x48, 8)
	reqCreateIRQChip       = io(0x60)
	reqIRQLine             = iow(0x61, sizeofIRQLevel)
	reqSetGSIRouting       = iow(0x6a, sizeofIRQRouting)
	reqIRQFD               = iow(0x76, sizeofIRQFD)
	reqCreatePIT2          = iow(0x77, sizeofPITConfig)
	reqIOEventFD           = iow(0x79, sizeofIOEventFD)
	reqRun                 = io(0x80)
	reqGetRegs             = ior(0x81, sizeofRegs)
	reqSetRegs             = iow(0x82, sizeofRegs)
	reqGetSregs            = ior(0x83, sizeofSregs)
	reqSetSregs            = iow(0x84, sizeofSregs)
	reqGetMSRs             = iowr(0x88, sizeofMSRs)
	reqSetMSRs             = iow(0x89, sizeofMSRs)
	reqGetFPU              = ior(0x8c, sizeofFPU)
	reqSetFPU              = iow(0x8d, sizeofFPU)
	reqGetLAPIC            = ior(0x8e, sizeofLAPICState)
	reqSetLAPIC            = iow(0x8f, sizeofLAPICState)
	reqSetCPUID2           = iow(0x90, sizeofCPUID2)
	reqGetMPState          = ior(0x98, sizeofMPState)
	reqSetMPState          = iow(0x99, sizeofMPState)
	reqGetXCRS             = ior(0xa6, sizeofXCRs)
	reqSetXCRS             = iow(0xa7, sizeofXCRs)
)

// Capabilities for System.CheckExtension (KVM_CAP_* in
// include/uapi/linux/kvm.h).
const (
	CapIRQChip       = 0
	CapUserMemory    = 3
	CapSetTSSAddr    = 4
	CapExtCPUID      = 7
	CapIRQFD         = 32
	CapPIT2          = 33
	CapIOEventFD     = 36
	CapXCRS          = 56
	CapSyncRegs      = 74
	CapImmediateExit = 136
)

// Sizes of the mirrored kernel structs, used in the ioctl numbers. The size
// test checks each against unsafe.Sizeof of its mirror.
const (
	sizeofCPUID2           = 8
	sizeofCPUIDEntry2      = 40
	sizeofUserMemoryRegion = 32
	sizeofIRQLevel         = 8
	sizeofIRQRouting       = 8
	sizeofIRQFD            = 32
	sizeofPITConfig        = 64
	sizeofIOEventFD        = 64
	sizeofRegs             = 144
	sizeofSregs            = 312
	sizeofSegment          = 24
	sizeofDTable           = 16
	sizeofMSRs             = 8
	sizeofMSREntry         = 16
	sizeofLAPICState       = 1024
	sizeofMPState          = 4
	sizeofFPU              = 416
	sizeofXCRs             = 392
	sizeofRunHeader        = 288 // struct kvm_run up to kvm_valid_regs
)
