package jail

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FDArg returns the flag value "fd:N" that names an inherited fd, for
// building a jailed VMM's command line (for example
// "--disk "+FDArg(files.DiskFD(0))+",ro").
func FDArg(fd int) string { return "fd:" + strconv.Itoa(fd) }

// OpenFile opens a file named on the command line: "fd:N" (see FDArg) is
// the inherited fd N, which must be open and at least 3; anything else is a
// path opened with os.OpenFile(name, flag, perm). Inside the jail only fd
// names reach files outside the VM's root.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	num, ok := strings.CutPrefix(name, "fd:")
	if !ok {
		return os.OpenFile(name, flag, perm)
	}
	fd, err := strconv.Atoi(num)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("open %s: not an inherited fd number (3 or more)", name)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("open %s: fd not open: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
