package memory

import (
	"fmt"
	"unsafe"
)

// Word32 returns the 32-bit word of b at off for sync/atomic access: how a
// driver on another thread, standing in for a guest's vCPU, reads and
// writes a virtqueue's index words while a device serves the queue. off
// must be 4-byte aligned and the word inside b.
func Word32(b []byte, off uint64) *uint32 {
	if off%4 != 0 || off > uint64(len(b)) || uint64(len(b))-off < 4 {
		panic(fmt.Sprintf("memory: 32-bit word at %#x of %#x bytes", off, len(b)))
	}
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%4 != 0 {
		panic(fmt.Sprintf("memory: word at %#x of %p not aligned", off, p))
	}
	return (*uint32)(p)
}
