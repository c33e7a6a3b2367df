// Package btrfstest gives tests and benchmarks a folder on a real btrfs
// file system, where root volumes are reflinks of their images, on a host
// whose own file systems may share no extents (an ext4 /): a sparse image
// formatted with the host's mkfs.btrfs and mounted over a loop device.
package btrfstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Mount returns the mount point of a new btrfs file system of size bytes
// (sparse, in t's temporary folder), unmounted when t ends. It needs root
// and mkfs.btrfs, and skips t saying why without them.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a btrfs image needs root")
	}
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		t.Skip("SKIP: mkfs.btrfs not installed (make deps installs btrfs-progs)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "btrfs.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs %s: %v\n%s", img, err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v\n%s", img, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			// Something still holds it (a process t left running): detach
			// it, so that no mount outlives t, and say so.
			lazy, lerr := exec.Command("umount", "-l", mnt).CombinedOutput()
			t.Errorf("umount %s: %v\n%s(umount -l: %v %s)", mnt, err, out, lerr, lazy)
		}
	})
	return mnt
}
