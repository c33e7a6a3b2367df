package cloudimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCachedImageIsReused: Build returns a finished image without running
// anything (no debootstrap here), and only a complete one counts.
func TestCachedImageIsReused(t *testing.T) {
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
	os.WriteFile(img.Disk, []byte("x"), 0o644)
	got, err := Build(context.Background(), Options{Dir: dir})
	if err != nil || got != img {
		t.Fatalf("Build = %+v, %v; want the cached %+v", got, err, img)
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
