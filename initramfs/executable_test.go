package initramfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExecutableRunsAloneInTheImage carries the host's mkfs.btrfs at a
// fixed path into an image, unpacks the image into an empty folder, and
// (as root) formats a file with it chrooted there, proc mounted: the libraries and the
// loader it needs are all in the image, and nothing else.
func TestExecutableRunsAloneInTheImage(t *testing.T) {
	const src, dst = "/sbin/mkfs.btrfs", "/usr/libexec/ironvisor/mkfs.btrfs"
	if !isFile(src) {
		t.Skipf("SKIP: no %s (make deps installs btrfs-progs)", src)
	}
	es, err := Executable(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	all := strings.Join(paths, " ")
	for _, want := range []string{dst, "libblkid.so.1", "libuuid.so.1", "libc.so.6", "ld-linux-x86-64.so.2"} {
		if !strings.Contains(all, want) {
			t.Errorf("entries %s lack %s", all, want)
		}
	}
	b := New()
	if err := b.Add(append(es, Dir("/tmp", 0o1777))...); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Write(&buf, None); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIP: running it in the unpacked image needs root (chroot)")
	}
	root := t.TempDir()
	unpack(t, root, got)
	if err := os.WriteFile(filepath.Join(root, "tmp/data.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(root, "tmp/data.img"), 256<<20); err != nil {
		t.Fatal(err)
	}
	// As in the appliance, proc is mounted: mkfs.btrfs reads the mounts.
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatalf("mount proc: %v", err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	cmd := exec.Command(dst, "-f", "-L", "ivdata", "/tmp/data.img")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{} // no PATH, no LD_LIBRARY_PATH
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s in the unpacked image: %v\n%s", dst, err, out)
	}
	sb := make([]byte, 8)
	f, err := os.Open(filepath.Join(root, "tmp/data.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(sb, 0x10040); err != nil || string(sb) != "_BHRfS_M" {
		t.Errorf("no btrfs magic at 64 KiB + 0x40: %q, %v", sb, err)
	}
}

func TestExecutableRefusesAMissingProgram(t *testing.T) {
	if _, err := Executable("/usr/libexec/x", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Executable of a missing program: no error")
	}
}

// unpack writes entries under root.
func unpack(t *testing.T, root string, entries []Entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch e.Kind {
		case KindDir:
			err = os.MkdirAll(p, os.FileMode(e.Perm))
		case KindFile:
			err = os.WriteFile(p, e.Data, os.FileMode(e.Perm))
		case KindSymlink:
			err = os.Symlink(e.Target, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
