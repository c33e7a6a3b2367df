package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DiskDevice returns the whole block device (disk) that holds the file f,
// as io.max wants it: the device of f's file system, or, when that is a
// partition, the disk it is on (Documentation/ABI/stable/sysfs-block).
// known is false, with no error, for a file system on no block device
// (tmpfs, overlay, procfs: major 0) or one sysfs does not show.
func DiskDevice(f *os.File) (major, minor uint32, known bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, 0, false, fmt.Errorf("disk of %s: %w", f.Name(), err)
	}
	major, minor = unix.Major(st.Dev), unix.Minor(st.Dev)
	if major == 0 {
		return 0, 0, false, nil
	}
	dir := filepath.Join("/sys/dev/block", devName(major, minor))
	if _, err := os.Stat(filepath.Join(dir, "partition")); errors.Is(err, os.ErrNotExist) {
		_, err := os.Stat(dir)
		return major, minor, err == nil, nil
	}
	// A partition's sysfs directory sits inside its disk's.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, 0, false, nil
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return 0, 0, false, nil
	}
	ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	m1, err1 := strconv.ParseUint(ma, 10, 32)
	m2, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, false, nil
	}
	return uint32(m1), uint32(m2), true, nil
}

// devName is "major:minor".
func devName(major, minor uint32) string {
	return strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
}
