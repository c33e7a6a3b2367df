package memory

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Allocate maps size bytes of anonymous, private host memory for guest RAM.
// Pages are not touched, so the host commits them only as the guest uses
// them. Release frees the mapping.
func Allocate(size uint64) ([]byte, error) {
	if size == 0 {
		return nil, fmt.Errorf("allocate guest RAM: size is zero")
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("allocate %d bytes of guest RAM: %w", size, err)
	}
	return b, nil
}

// Release unmaps memory returned by Allocate.
func Release(b []byte) error { return unix.Munmap(b) }
