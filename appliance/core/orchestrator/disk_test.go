package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// TestLaunchThatCannotFitIsRefused: a launch whose volumes, at their full
// size, do not fit in the free space next to the reserve and the volumes
// existing instances may still fill is refused with InsufficientCapacity,
// counting the instances launched before whose volumes are not copied
// yet (issue 10, finding 7). Launches were never checked.
func TestLaunchThatCannotFitIsRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	disky, plain := e.image("disky", true), e.image("plain", false)
	e.o.cfg.DiskReserve = 1 << 20
	e.o.cfg.Statfs = func(string) (uint64, uint64, error) { return 1<<20 + 5<<19, 1 << 30, nil } // reserve + 2.5 MiB
	_, err := e.o.Launch(tenant, LaunchSpec{Image: disky, Type: "nano", Count: 3})
	if apiv1.CodeOf(err) != apiv1.InsufficientCapacity {
		t.Fatalf("3 MiB of volumes in 2.5 MiB: %v", err)
	}
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: disky, Type: "nano", Count: 2}); err != nil {
		t.Fatalf("2 MiB of volumes in 2.5 MiB: %v", err)
	}
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: disky, Type: "nano", Count: 1}); apiv1.CodeOf(err) != apiv1.InsufficientCapacity {
		t.Fatalf("the volumes not copied yet were not counted: %v", err)
	}
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: plain, Type: "nano", Count: 1}); err != nil {
		t.Fatalf("an image without a disk needs no disk: %v", err)
	}
}

// TestVolumeCopiesAreBounded: a copy waits for a free slot (here the one
// slot is held), and gives up with its context, leaving no volume.
func TestVolumeCopiesAreBounded(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.o.volSlots = make(chan struct{}, 1)
	disk := filepath.Join(e.dir, "disk.img")
	if err := os.WriteFile(disk, []byte("boot sector"), 0o600); err != nil {
		t.Fatal(err)
	}
	done, err := e.o.volumeSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.o.ensureVolume(ctx, "i-1", disk, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second copy ran beside the first: %v", err)
	}
	if _, err := os.Stat(e.o.volumePath("i-1")); !os.IsNotExist(err) {
		t.Fatalf("a volume appeared without a slot: %v", err)
	}
	done()
	if _, err := e.o.ensureVolume(context.Background(), "i-1", disk, 0); err != nil {
		t.Fatal(err)
	}
}

// TestVolumeRefusedBelowReserve: on a real 4 MiB file system, a volume
// that would leave less than the reserve free is refused and leaves
// nothing; the one before it fit.
func TestVolumeRefusedBelowReserve(t *testing.T) {
	e := newEnv(t, nil, nil)
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	disk := filepath.Join(e.dir, "disk.img")
	if err := os.WriteFile(disk, bytes.Repeat([]byte{0xa5}, 3<<19), 0o600); err != nil { // 1.5 MiB of data
		t.Fatal(err)
	}
	e.o.cfg.DataDir, e.o.cfg.Statfs, e.o.cfg.DiskReserve = mnt, nil, 2<<20
	e.o.diskSetup()
	if _, err := e.o.ensureVolume(context.Background(), "i-1", disk, 0); err != nil {
		t.Fatalf("first volume: %v", err)
	}
	_, err := e.o.ensureVolume(context.Background(), "i-2", disk, 0)
	if apiv1.CodeOf(err) != apiv1.InsufficientCapacity {
		t.Fatalf("second volume below the reserve: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(mnt, volumesDir))
	if len(ents) != 1 {
		t.Fatalf("volumes directory holds %d entries", len(ents))
	}
}

// TestReserveDefault: the reserve is 1 GiB, or a twentieth of a smaller
// file system, so a small data disk still takes volumes.
func TestReserveDefault(t *testing.T) {
	e := newEnv(t, nil, nil)
	for total, want := range map[uint64]uint64{100 << 20: 5 << 20, 1 << 40: DefaultDiskReserve} {
		e.o.cfg.Statfs = func(string) (uint64, uint64, error) { return 1, total, nil }
		if _, reserve, err := e.o.space(); err != nil || reserve != want {
			t.Errorf("file system of %d bytes: reserve %d, %v; want %d", total, reserve, err, want)
		}
	}
}
