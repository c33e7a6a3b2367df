package datadisk

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/volumes"
)

// hostMkfsBtrfs returns this host's mkfs.btrfs, or "" when it has none.
func hostMkfsBtrfs(t *testing.T) string {
	p, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		t.Logf("no mkfs.btrfs on this host (make deps installs btrfs-progs): %v", err)
		return ""
	}
	return p
}

// TestFormatMakesABtrfs formats sparse files of a large and a small size
// with the host's mkfs.btrfs, checks each with btrfs check and its label
// with dump-super, and refuses to format either again. As root it mounts
// the large one and checks that package volumes makes reflinks on it.
func TestFormatMakesABtrfs(t *testing.T) {
	mkfs := hostMkfsBtrfs(t)
	if mkfs == "" {
		t.Skip("SKIP: mkfs.btrfs not installed (make deps installs btrfs-progs)")
	}
	for _, size := range []int64{4 << 30, 64 << 20} {
		p := sparseFile(t, size)
		fs, err := Format(p, size, mkfs)
		if err != nil || fs != "btrfs" {
			t.Fatalf("Format %d bytes = %q, %v; want btrfs", size, fs, err)
		}
		if out, err := exec.Command("btrfs", "check", "--readonly", p).CombinedOutput(); err != nil {
			t.Errorf("btrfs check of %d bytes: %v\n%s", size, err, out)
		}
		out, err := exec.Command("btrfs", "inspect-internal", "dump-super", p).CombinedOutput()
		if err != nil {
			t.Fatalf("dump-super: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "label\t\t\tivdata\n") {
			t.Errorf("dump-super shows no ivdata label:\n%s", out)
		}
		if _, err := Format(p, size, mkfs); err == nil || !strings.Contains(err.Error(), "not blank") {
			t.Errorf("formatting a btrfs file system again: %v, want a refusal", err)
		}
		if size >= MixedBelow {
			mountAndClone(t, p)
		}
	}
}

// mountAndClone mounts the btrfs image img (as root) and checks that a
// volume made from an image file on it is a reflink.
func mountAndClone(t *testing.T, img string) {
	if os.Geteuid() != 0 {
		t.Log("SKIP the mount: not root")
		return
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v\n%s", img, err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	}()
	disk := filepath.Join(dir, "image.raw")
	if err := os.WriteFile(disk, []byte(strings.Repeat("disk", 1<<18)), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := volumes.Create(disk, filepath.Join(dir, "vol.raw"))
	if err != nil || m != volumes.Reflink {
		t.Errorf("volume on the formatted btrfs: %q, %v; want %q", m, err, volumes.Reflink)
	}
}

func TestFormatWithABrokenMkfsSaysWhy(t *testing.T) {
	const size = 2 << 30
	p := sparseFile(t, size)
	mkfs := filepath.Join(t.TempDir(), "mkfs.btrfs")
	if err := os.WriteFile(mkfs, []byte("#!/bin/sh\necho 'ERROR: no such device' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Format(p, size, mkfs)
	if err == nil || !strings.Contains(err.Error(), "ERROR: no such device") {
		t.Errorf("Format with a failing mkfs.btrfs: %v, want its output in the error", err)
	}
}

func TestMkfsArgs(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want string
	}{
		{8 << 30, "-f -K -L ivdata -m dup -d single /dev/vda2"},
		{512 << 20, "-f -K -L ivdata --mixed /dev/vda2"},
	} {
		if got := strings.Join(mkfsArgs("/dev/vda2", tc.size), " "); got != tc.want {
			t.Errorf("mkfsArgs(%d) = %q, want %q", tc.size, got, tc.want)
		}
	}
}
