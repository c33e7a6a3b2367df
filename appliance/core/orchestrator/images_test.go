package orchestrator

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/images"
)

// TestLaunchRootSize: the root volume is the image's disk, grown sparsely
// to root_size_gib when that is given.
func TestLaunchRootSize(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	img := e.image("disk", true)
	plain := e.launch(img, false)
	if plain.RootSize != 1<<20 {
		t.Errorf("default root size %d, want the image's 1 MiB", plain.RootSize)
	}
	insts, err := e.o.Launch(tenant, LaunchSpec{Image: img, Type: "nano", Count: 1, RootSizeGiB: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	in := e.get(insts[0].ID)
	if in.RootSize != 3<<30 {
		t.Fatalf("root size %d, want 3 GiB", in.RootSize)
	}
	spec, ok := r.spec(in.ID)
	if !ok || spec.RootVolume == "" {
		t.Fatalf("no root volume in %+v", spec)
	}
	fi, err := os.Stat(spec.RootVolume)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 3<<30 {
		t.Errorf("volume is %d bytes, want 3 GiB", fi.Size())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > 4<<20 {
		t.Errorf("volume allocates %d bytes: the growth is not sparse", st.Blocks*512)
	}
	f, err := os.Open(spec.RootVolume)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, len("boot sector"))
	if _, err := f.ReadAt(head, 0); err != nil || string(head) != "boot sector" {
		t.Errorf("volume does not start with the image's disk: %q %v", head, err)
	}
}

func TestLaunchRootSizeRefusals(t *testing.T) {
	e := newEnv(t, nil, nil)
	noDisk := e.image("kernel-only", false)
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: noDisk, Type: "nano", Count: 1, RootSizeGiB: 1}); !errors.Is(err, apiv1.InvalidParameter) {
		t.Errorf("root size for an image without a disk: %v", err)
	}
	big := images.Image{Name: "big", Disk: &images.File{Size: 3<<30 + 1}}
	if _, err := rootSize(big, 3); !errors.Is(err, apiv1.InvalidParameter) || !strings.Contains(err.Error(), "smaller than") {
		t.Errorf("root smaller than the image: %v", err)
	}
	if got, err := rootSize(big, 4); err != nil || got != 4<<30 {
		t.Errorf("4 GiB root: %d %v", got, err)
	}
	if got, err := rootSize(big, 0); err != nil || got != 3<<30+1 {
		t.Errorf("default root: %d %v", got, err)
	}
	if _, err := rootSize(big, MaxRootGiB+1); !errors.Is(err, apiv1.InvalidParameter) {
		t.Errorf("root beyond the limit: %v", err)
	}
}

// TestDeleteImageInUse: an image goes only when no instance that is not
// terminated uses it, stopped ones included.
func TestDeleteImageInUse(t *testing.T) {
	e := newEnv(t, newFakeRunner(), nil)
	img := e.image("disk", true)
	in := e.launch(img, false)
	if err := e.o.DeleteImage("disk"); !errors.Is(err, apiv1.InUse) || !strings.Contains(err.Error(), in.ID) {
		t.Fatalf("delete an image in use: %v", err)
	}
	if _, err := e.o.Stop(context.Background(), tenant, in.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := e.o.DeleteImage(img); !errors.Is(err, apiv1.InUse) {
		t.Fatalf("delete an image of a stopped instance: %v", err)
	}
	if _, err := e.o.Terminate(context.Background(), tenant, in.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.o.DeleteImage(img); err != nil {
		t.Fatalf("delete an unused image: %v", err)
	}
	if err := e.o.DeleteImage(img); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("delete it again: %v", err)
	}
}
