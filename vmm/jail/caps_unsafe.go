package jail

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clearCapsAllThreads empties the permitted, effective and inheritable
// capabilities (and with them the ambient ones, which must be a subset)
// of every thread of the process: capset(2) acts on the calling thread
// only, so it runs on all of them at once (AllThreadsSyscall, which a cgo
// binary does not have: ENOTSUP).
func clearCapsAllThreads() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // all zero
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if e != 0 {
		return e
	}
	return nil
}
