package datadisk

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// MkfsBtrfs is where the appliance image carries Debian's mkfs.btrfs
// (package btrfs-progs), outside PATH so that nothing else is ever run in
// its place.
const MkfsBtrfs = "/usr/libexec/ironvisor/mkfs.btrfs"

// MixedBelow is the partition size under which Format makes a btrfs with
// mixed data and metadata block groups, as btrfs's own documentation
// advises for small file systems (and mkfs.btrfs needs below 109 MiB).
const MixedBelow = 1 << 30

// mkfsArgs are the arguments of mkfs.btrfs for a data partition of size
// bytes at path:
//   - -f: Format has already checked that the partition is blank, and
//     libblkid's probe of a stale signature must not stop a first boot;
//   - -K: no discard of the whole device first, which takes minutes on
//     large disks that implement it slowly;
//   - one device: metadata twice (dup), so a bad sector in it does not lose
//     the file system, and data once (single); mixed when small.
func mkfsArgs(path string, size int64) []string {
	args := []string{"-f", "-K", "-L", gpt.DataPartitionName}
	if size < MixedBelow {
		args = append(args, "--mixed")
	} else {
		args = append(args, "-m", "dup", "-d", "single")
	}
	return append(args, path)
}

// formatBtrfs runs mkfs at path; its output goes into the error.
func formatBtrfs(mkfs, path string, size int64) error {
	out, err := exec.Command(mkfs, mkfsArgs(path, size)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("format %s: %s: %w: %s", path, mkfs, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// isExecutable reports whether p is a regular file someone may execute.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
