//go:build linux

package memory

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HugePageSize is the size of an x86-64 transparent huge page, and of the
// large pages KVM maps guest RAM with in its two-dimensional paging.
const HugePageSize = 2 << 20

// Allocate maps size bytes of anonymous, private host memory for guest RAM.
// Pages are not touched, so the host commits them only as the guest uses
// them. Release frees the mapping.
//
// A mapping of at least HugePageSize starts on a HugePageSize boundary and
// is advised MADV_HUGEPAGE. KVM backs a guest page with a large page only
// where the slot's guest and host addresses agree modulo the large page
// size (and the host has a huge page there); guest RAM starts at guest
// address 0 and 4 GiB, so an unaligned mapping gets only 4 KiB pages. In
// the rack a stock Debian boot then took about 50,000 nested page faults
// (KVM's pf_taken) where QEMU, which aligns and advises its RAM the same
// way, took about 500, each an exit. A host without transparent huge pages
// refuses the advice; that only costs the speed-up.
func Allocate(size uint64) ([]byte, error) {
	if size == 0 {
		return nil, fmt.Errorf("allocate guest RAM: size is zero")
	}
	if size > math.MaxInt-HugePageSize {
		return nil, fmt.Errorf("allocate %d bytes of guest RAM: too large", size)
	}
	span := uintptr(size)
	if size >= HugePageSize {
		span += HugePageSize // room to slide the start onto a boundary
	}
	p, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("allocate %d bytes of guest RAM: %w", size, err)
	}
	head := uintptr(0)
	if size >= HugePageSize {
		head = (HugePageSize - uintptr(p)%HugePageSize) % HugePageSize
	}
	start := unsafe.Add(p, head)
	// Give back the slack before and after the aligned range; untouched,
	// it holds no memory, but it would hold address space.
	if head > 0 {
		if err := unix.MunmapPtr(p, head); err != nil {
			unix.MunmapPtr(p, span)
			return nil, fmt.Errorf("trim guest RAM mapping: %w", err)
		}
	}
	if tail := span - head - uintptr(size); tail > 0 {
		if err := unix.MunmapPtr(unsafe.Add(start, size), tail); err != nil {
			unix.MunmapPtr(start, span-head)
			return nil, fmt.Errorf("trim guest RAM mapping: %w", err)
		}
	}
	b := unsafe.Slice((*byte)(start), size)
	if size >= HugePageSize {
		if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil && !errors.Is(err, unix.EINVAL) {
			Release(b)
			return nil, fmt.Errorf("advise huge pages for guest RAM: %w", err)
		}
	}
	return b, nil
}

// Release unmaps memory returned by Allocate.
func Release(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}
