package jail

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadFilter installs prog as the seccomp filter of every thread of the
// process (seccomp(2) SECCOMP_SET_MODE_FILTER with
// SECCOMP_FILTER_FLAG_TSYNC). The caller has set no_new_privs. A positive
// return is the id of a thread that could not be synchronised.
func loadFilter(prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return errno
	}
	if r != 0 {
		return fmt.Errorf("thread %d could not take the filter", r)
	}
	return nil
}
