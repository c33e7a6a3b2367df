package bootsel

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
	"github.com/ironvisor/ironvisor/appliance/images/qcow2"
)

// TestFindThroughCompressedQcow2 runs the chain an import runs: a cloud
// image layout compressed to qcow2 by qemu-img, read through qcow2.Image
// without converting it. It prints SKIP when qemu-img is not installed.
func TestFindThroughCompressedQcow2(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("SKIP: qemu-img not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	raw, q := filepath.Join(dir, "disk.raw"), filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(raw, disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(t, debianTree())), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemuImg, "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4k", raw, q).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	f, err := os.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := qcow2.Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Find(img, img.Size(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if contents(t, b.Kernel) != "KERNEL-9" || contents(t, b.Initrd) != "INITRD-9" || b.Root != "UUID="+testUUID {
		t.Errorf("kernel %q initrd %q root %q", contents(t, b.Kernel), contents(t, b.Initrd), b.Root)
	}
}
