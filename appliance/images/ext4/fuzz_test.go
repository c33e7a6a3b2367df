package ext4

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tinyImage makes a 192 KiB ext4 image, small enough to fuzz, holding a
// kernel symlink, a kernel, an fstab and a slow symlink. It returns nil
// when mke2fs is missing.
func tinyImage(tb testing.TB, opts ...string) []byte {
	if _, err := exec.LookPath("mke2fs"); err != nil {
		return nil
	}
	dir := tb.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "boot"), 0o755)
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "boot", kernelName), content(1, 5000), 0o644)
	os.WriteFile(filepath.Join(tree, "etc/fstab"), []byte(fstab), 0o644)
	os.Symlink("boot/"+kernelName, filepath.Join(tree, "vmlinuz"))
	os.Symlink("/etc/./../etc/./../etc/./../etc/./../etc/./../etc/./../etc/fstab", filepath.Join(tree, "fstab"))
	img := filepath.Join(dir, "fs.img")
	args := append([]string{"-q", "-F", "-b", "1024", "-N", "32", "-L", testLabel, "-d", tree}, opts...)
	if out, err := exec.Command("mke2fs", append(args, img, "192K")...).CombinedOutput(); err != nil {
		tb.Fatalf("mke2fs: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(img)
	return b
}

// FuzzOpen reads a file system from arbitrary bytes and walks it as boot
// discovery does. Nothing may panic or run away.
func FuzzOpen(f *testing.F) {
	for _, opts := range [][]string{{"-t", "ext4", "-O", "^has_journal"}, {"-t", "ext2"}} {
		if img := tinyImage(f, opts...); img != nil {
			f.Add(img)
		}
	}
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, img []byte) {
		fs, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		_, _ = fs.Label(), fs.UUID()
		for _, name := range []string{"/vmlinuz", "/fstab", "/etc/fstab", "/boot/" + kernelName} {
			fs.ReadFile(name, 1<<20)
			fs.Lstat(name)
			fs.Readlink(name)
		}
		fs.ReadDir("/")
		fs.ReadDir("/boot")
	})
}

func TestTinyImage(t *testing.T) {
	img := tinyImage(t, "-t", "ext4", "-O", "^has_journal")
	if img == nil {
		t.Skip("SKIP: mke2fs not installed")
	}
	fs, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile("/fstab", 1000); err != nil || string(b) != fstab {
		t.Fatalf("ReadFile(/fstab) = %q, %v", b, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	img := tinyImage(t, "-t", "ext4", "-O", "^has_journal")
	if img == nil {
		t.Skip("SKIP: mke2fs not installed")
	}
	if _, err := Open(bytes.NewReader(img[:len(img)/2]), int64(len(img)/2)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated image: %v, want ErrCorrupt", err)
	}
	if _, err := Open(bytes.NewReader(make([]byte, 8192)), 8192); !errors.Is(err, ErrNotExt4) {
		t.Errorf("zeros: %v, want ErrNotExt4", err)
	}
	bad := bytes.Clone(img)
	bad[1024+0x60] |= 0x1 // INCOMPAT_COMPRESSION
	if _, err := Open(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("compression feature: %v, want ErrUnsupported", err)
	}
}
