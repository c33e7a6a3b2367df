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
