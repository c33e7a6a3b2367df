package orchestrator

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// Disk accounting. Volumes are sparse copies of their image's disk on the
// file system that also holds the store, and guests fill them as they
// write. So a launch must fit: the free space, less the reserve for the
// store, must hold every volume that can still grow (each instance not
// terminated, up to its image's disk size, less what it already holds)
// plus the new ones at their full size. Otherwise it is refused with
// InsufficientCapacity and no guest can ever fill the disk the store
// needs. Volume copies run at most VolumeWorkers at once.

// Defaults of the disk accounting. The reserve is DefaultDiskReserve or
// a twentieth of the file system, the smaller.
const (
	DefaultDiskReserve   = 1 << 30 // bytes kept free for the store and logs
	DefaultVolumeWorkers = 2       // volume copies at once
)

// statfs returns the bytes an unprivileged writer may still use on the
// file system of dir, and its size.
func statfs(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// space returns the free bytes of DataDir's file system and the reserve
// kept on it.
func (o *Orchestrator) space() (free, reserve uint64, err error) {
	free, total, err := o.cfg.Statfs(o.cfg.DataDir)
	if err != nil {
		return 0, 0, err
	}
	reserve = o.cfg.DiskReserve
	if reserve == 0 {
		reserve = min(DefaultDiskReserve, total/20)
	}
	return free, reserve, nil
}

// diskSetup fills the disk defaults of cfg and makes the copy semaphore.
func (o *Orchestrator) diskSetup() {
	if o.cfg.Statfs == nil {
		o.cfg.Statfs = statfs
	}
	if o.cfg.VolumeWorkers <= 0 {
		o.cfg.VolumeWorkers = DefaultVolumeWorkers
	}
	o.volSlots = make(chan struct{}, o.cfg.VolumeWorkers)
}

// noSpace returns the InsufficientCapacity error of a want that does not
// fit next to committed in free.
func noSpace(what string, want, committed, free, reserve uint64) error {
	return fmt.Errorf("%w: %s needs %d MiB of disk, but only %d MiB are free beyond the %d MiB the volumes of existing instances may still take and the %d MiB kept for the store",
		apiv1.InsufficientCapacity, what, want>>20, (free-min(free, committed+reserve))>>20, committed>>20, reserve>>20)
}

// admitDisk refuses a launch of count volumes of diskBytes each that does
// not fit. The caller holds diskMu, so two launches cannot both take the
// last space.
func (o *Orchestrator) admitDisk(count int, diskBytes int64) error {
	if diskBytes <= 0 {
		return nil
	}
	free, reserve, err := o.space()
	if err != nil {
		return err
	}
	committed, err := o.committedDisk()
	if err != nil {
		return err
	}
	want := uint64(count) * uint64(diskBytes)
	if free < reserve+committed+want {
		return noSpace(fmt.Sprintf("%d volume(s) of %d MiB", count, diskBytes>>20), want, committed, free, reserve)
	}
	return nil
}

// committedDisk returns the bytes the volumes of instances not terminated
// may still take: each up to its root size (else its image's disk size), less the blocks its
// file holds already (all of it when there is no file yet).
func (o *Orchestrator) committedDisk() (uint64, error) {
	insts, err := o.cfg.Life.List("")
	if err != nil {
		return 0, err
	}
	sizes := map[string]int64{}
	var total uint64
	for _, in := range insts {
		if in.State == lifecycle.Terminated {
			continue
		}
		size, ok := in.RootSize, in.RootSize > 0
		if !ok {
			size, ok = sizes[in.Image]
		}
		if !ok {
			if img, err := o.cfg.Images.Get(in.Image); err == nil {
				size = diskBytes(img)
			}
			sizes[in.Image] = size
		}
		if held := allocated(o.volumePath(in.ID)); held < size {
			total += uint64(size - held)
		}
	}
	return total, nil
}

// allocated returns the bytes the file at path holds on disk (0 if none).
func allocated(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// volumeSlot waits for one of the VolumeWorkers copy slots; the returned
// function gives it back.
func (o *Orchestrator) volumeSlot(ctx context.Context) (func(), error) {
	select {
	case o.volSlots <- struct{}{}:
		return func() { <-o.volSlots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a volume copy slot: %w", ctx.Err())
	}
}

// checkVolumeSpace refuses to create a volume of disk's size when the
// free space would fall below the reserve.
func (o *Orchestrator) checkVolumeSpace(disk string) error {
	fi, err := os.Stat(disk)
	if err != nil {
		return fmt.Errorf("image disk: %w", err)
	}
	free, reserve, err := o.space()
	if err != nil {
		return err
	}
	if want := uint64(fi.Size()); free < reserve+want {
		return noSpace(fmt.Sprintf("a volume of %d MiB", want>>20), want, 0, free, reserve)
	}
	return nil
}
