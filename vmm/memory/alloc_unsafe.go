//go:build linux

package memory

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HugePageSize is the x86-64 transparent huge page (a page directory entry).
const HugePageSize = 2 << 20

// Allocate maps size bytes of anonymous, private host memory for guest RAM.
// Pages are not touched, so the host commits them only as the guest uses
// them. Release frees the mapping.
//
// The mapping starts on a 2 MiB boundary and is marked MADV_HUGEPAGE, as
// QEMU does for its RAM blocks. KVM maps a guest page with a 2 MiB entry of
// its nested (NPT/EPT) page tables only where the guest physical and the
// host virtual address agree modulo 2 MiB and the host backs that range
// with a huge page. The kernel does not align a large anonymous mapping
// (Linux 6.1, the Debian kernel the appliance runs), so a plain mmap leaves
// every guest page behind a 4 KiB nested mapping: a TLB miss walks twice
// as many levels, and under nested virtualisation each 4 KiB page costs
// its own nested page fault. Regions start at 2 MiB-aligned guest
// addresses (0 and 4 GiB), so an aligned host start is all it takes.
func Allocate(size uint64) ([]byte, error) {
	if size == 0 {
		return nil, fmt.Errorf("allocate guest RAM: size is zero")
	}
	pg := uint64(unix.Getpagesize())
	size = (size + pg - 1) &^ (pg - 1)
	// Reserve one huge page more, then trim both ends to an aligned start.
	span := uintptr(size + HugePageSize)
	p, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("allocate %d bytes of guest RAM: %w", size, err)
	}
	head := uintptr(-int64(uintptr(p)) & (HugePageSize - 1))
	if head > 0 {
		if err := unix.MunmapPtr(p, head); err != nil {
			return nil, fmt.Errorf("trim guest RAM mapping: %w", err)
		}
	}
	start := unsafe.Add(p, head)
	if tail := span - head - uintptr(size); tail > 0 {
		if err := unix.MunmapPtr(unsafe.Add(start, size), tail); err != nil {
			return nil, fmt.Errorf("trim guest RAM mapping: %w", err)
		}
	}
	b := unsafe.Slice((*byte)(start), size)
	// EINVAL from a kernel built without THP: RAM works in 4 KiB pages.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b, nil
}

// Release unmaps memory returned by Allocate.
func Release(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}
