package images

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestReadBootFollowsTheVolume: the kernel and initrd come from the
// volume as it is now, so a kernel the guest installed replaces the one
// read before; a volume with nothing bootable is refused and the files
// read before stay.
func TestReadBootFollowsTheVolume(t *testing.T) {
	dir := t.TempDir()
	vol, boot := filepath.Join(dir, "i-1.img"), filepath.Join(dir, "i-1.boot")
	old := testutil.PVHHello("old kernel", testutil.ExitHalt)
	if err := os.WriteFile(vol, imagetest.CloudDisk(t, old), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readBoot(testJail(t), vol, boot)
	if err != nil {
		t.Fatal(err)
	}
	if got.KernelPath != imagetest.CloudKernelPath {
		t.Errorf("kernel path %q, want %q", got.KernelPath, imagetest.CloudKernelPath)
	}
	if b, _ := os.ReadFile(got.Kernel); !bytes.Equal(b, old) {
		t.Fatalf("kernel copy is not the volume's kernel")
	}
	if b, _ := os.ReadFile(got.Initrd); string(b) != imagetest.CloudInitrd {
		t.Fatalf("initrd copy %q, want %q", b, imagetest.CloudInitrd)
	}
	// The guest upgrades its kernel: the volume now holds another one.
	upgraded := testutil.PVHHello("upgraded kernel", testutil.ExitHalt)
	if err := os.WriteFile(vol, imagetest.CloudDisk(t, upgraded), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err = readBoot(testJail(t), vol, boot); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got.Kernel); !bytes.Equal(b, upgraded) {
		t.Fatalf("after an upgrade the kernel copy is still the old one")
	}
	// The guest wipes its disk: refused, the last good files stay.
	if err := os.WriteFile(vol, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readBoot(testJail(t), vol, boot); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a wiped volume: %v, want ErrInvalid", err)
	}
	if b, _ := os.ReadFile(got.Kernel); !bytes.Equal(b, upgraded) {
		t.Fatalf("a refused read replaced the kernel copy")
	}
	if m, _ := filepath.Glob(filepath.Join(boot, "*.tmp")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// testJail is a boot reader jail in a fresh state directory; it skips
// where none can be started.
func testJail(t *testing.T) bootjail.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the boot reader's jail needs root")
	}
	return bootjail.Config{StateDir: t.TempDir()}
}
