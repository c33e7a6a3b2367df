package boot

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// EnsureConsole points fds 0, 1 and 2 at dev (/dev/console) when stdout is
// closed or is /dev/null. That happens when the initramfs lacks a
// /dev/console node for the kernel to open before running init: the Go
// runtime then opens /dev/null for fds 0-2 (or aborts if that is missing
// too). Run it after /dev is mounted.
func EnsureConsole(dev string) error {
	var st unix.Stat_t
	err := unix.Fstat(1, &st)
	if err == nil && !(st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == unix.Mkdev(1, 3)) {
		return nil
	}
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	for target := 0; target <= 2; target++ {
		if fd != target {
			if err := unix.Dup3(fd, target, 0); err != nil {
				return fmt.Errorf("dup %s to fd %d: %w", dev, target, err)
			}
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}
