package orchestrator

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestStartBootsTheVolumesKernel: an instance of a cloud disk image boots
// the kernel on its own root volume at each start, as a bootloader would:
// a kernel the guest installed while running is the one the next start
// boots, and terminate removes the copies.
func TestStartBootsTheVolumesKernel(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	stock := testutil.PVHHello("stock kernel", testutil.ExitHalt)
	up, err := e.imgs.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	if err := up.Add(images.PartDisk, bytes.NewReader(imagetest.CloudDisk(t, stock))); err != nil {
		t.Fatal(err)
	}
	img, err := up.CommitDisk(context.Background(), "debian", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := e.launch(img.ID, false)
	kernelOf := func() []byte {
		t.Helper()
		spec, ok := r.spec(in.ID)
		if !ok {
			t.Fatalf("%s is not running", in.ID)
		}
		if spec.Kernel == e.imgs.Path(img.ID, images.PartKernel) {
			t.Fatalf("the start boots the image's kernel %s, not the volume's", spec.Kernel)
		}
		if b, _ := os.ReadFile(spec.Initrd); string(b) != imagetest.CloudInitrd {
			t.Errorf("initrd %q, want the volume's %q", b, imagetest.CloudInitrd)
		}
		b, err := os.ReadFile(spec.Kernel)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(kernelOf(), stock) {
		t.Fatal("the first start does not boot the image's kernel")
	}
	spec, _ := r.spec(in.ID)
	ctx := context.Background()
	if _, err := e.o.Stop(ctx, tenant, in.ID, false); err != nil {
		t.Fatal(err)
	}
	// While it ran, the guest installed another kernel on its root.
	upgraded := testutil.PVHHello("upgraded kernel", testutil.ExitHalt)
	if err := os.WriteFile(spec.RootVolume, imagetest.CloudDisk(t, upgraded), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.Start(ctx, tenant, in.ID); err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	if !bytes.Equal(kernelOf(), upgraded) {
		t.Fatal("the start after an upgrade boots the old kernel")
	}
	if _, err := e.o.Terminate(ctx, tenant, in.ID); err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	if _, err := os.Stat(e.o.bootDir(in.ID)); !os.IsNotExist(err) {
		t.Errorf("terminate left the boot files: %v", err)
	}
}
