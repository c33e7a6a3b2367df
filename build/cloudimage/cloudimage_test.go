package cloudimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCachedImageIsReused: Build returns a finished image without running
// debootstrap, and only a complete one counts; a finished raw disk
// without its qcow2 gets the qcow2 (qemu-img), the same disk compressed.
func TestCachedImageIsReused(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skipf("SKIP: no qemu-img (make deps installs qemu-utils): %v", err)
	}
	dir := t.TempDir()
	if _, ok := Cached(dir); ok {
		t.Fatal("an empty folder counts as a built image")
	}
	img := paths(dir)
	for _, p := range []string{img.Kernel, img.Initrd} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	if _, ok := Cached(dir); ok {
		t.Fatal("an image without its disk counts as built")
	}
	raw := make([]byte, 1<<20)
	copy(raw[512:], "EFI PART")
	os.WriteFile(img.Disk, raw, 0o644)
	if _, ok := Cached(dir); ok {
		t.Fatal("an image without its qcow2 counts as built")
	}
	got, err := Build(context.Background(), Options{Dir: dir})
	if err != nil || got != img {
		t.Fatalf("Build = %+v, %v; want the cached %+v", got, err, img)
	}
	if _, ok := Cached(dir); !ok {
		t.Fatal("Build left no complete image")
	}
	if out, err := exec.Command(qemuImg, "compare", "-f", "raw", "-F", "qcow2", img.Disk, img.Qcow2).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img compare: %v\n%s", err, out)
	}
	if out, _ := exec.Command(qemuImg, "info", img.Qcow2).CombinedOutput(); !strings.Contains(string(out), "file format: qcow2") {
		t.Errorf("disk.qcow2 is no qcow2:\n%s", out)
	}
}

// TestConfigureMountsRootByLabel: the image mounts the partition labelled
// root, which is what Cmdline and mke2fs -L agree on.
func TestConfigureMountsRootByLabel(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := configure(root); err != nil {
		t.Fatal(err)
	}
	fstab, _ := os.ReadFile(filepath.Join(root, "etc", "fstab"))
	if !strings.HasPrefix(string(fstab), "LABEL=root / ext4 ") || !strings.Contains(Cmdline, "root=LABEL=root") {
		t.Errorf("fstab %q, cmdline %q: root not by label", fstab, Cmdline)
	}
}

// TestCopyBootNeedsOneKernel: an image tree with two kernels is refused
// rather than booted with a guess.
func TestCopyBootNeedsOneKernel(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	boot := filepath.Join(root, "boot")
	os.MkdirAll(boot, 0o755)
	for _, f := range []string{"vmlinuz-6.1.0-1-cloud-amd64", "initrd.img-6.1.0-1-cloud-amd64"} {
		os.WriteFile(filepath.Join(boot, f), []byte(f), 0o644)
	}
	if err := copyBoot(root, paths(out)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(paths(out).Kernel); string(b) != "vmlinuz-6.1.0-1-cloud-amd64" {
		t.Errorf("kernel copied as %q", b)
	}
	os.WriteFile(filepath.Join(boot, "vmlinuz-6.1.0-2-cloud-amd64"), nil, 0o644)
	if err := copyBoot(root, paths(out)); err == nil {
		t.Error("two kernels accepted")
	}
}
