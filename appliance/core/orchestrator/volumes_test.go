package orchestrator

import (
	"context"
	"os"
	"testing"
)

// TestVolumeCopyIsSparseAndRemoved: the first start copies the image disk
// (package volumes), later starts keep what the guest wrote, and
// terminate removes it.
func TestVolumeCopyIsSparseAndRemoved(t *testing.T) {
	e := newEnv(t, nil, nil)
	disk := e.dir + "/disk.img"
	b := make([]byte, 1<<20)
	copy(b, "boot sector")
	copy(b[len(b)-5:], "tail!")
	if err := os.WriteFile(disk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	vol, err := e.o.ensureVolume(context.Background(), "i-1", disk, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(vol)
	if err != nil || string(got) != string(b) {
		t.Fatalf("volume differs from the image disk: %v", err)
	}
	os.WriteFile(vol, []byte("guest wrote this"), 0o600)
	if _, err := e.o.ensureVolume(context.Background(), "i-1", disk, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(vol); string(got) != "guest wrote this" {
		t.Fatal("a second start overwrote the volume")
	}
	if err := e.o.removeInstanceFiles("i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("volume left after terminate: %v", err)
	}
}
