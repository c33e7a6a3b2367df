package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/volumes"
)

// Per-instance files under the data directory: the root volume, copied
// from the image's disk at the first start and kept across stop and start,
// and the console log. Both are deleted when the instance terminates.
const (
	volumesDir  = "volumes"
	consolesDir = "consoles"
)

// volumePath is instance id's root volume.
func (o *Orchestrator) volumePath(id string) string {
	return filepath.Join(o.cfg.DataDir, volumesDir, id+".img")
}

// bootDir holds the kernel and initrd read from instance id's root volume
// at its last start (images.ReadBoot).
func (o *Orchestrator) bootDir(id string) string {
	return filepath.Join(o.cfg.DataDir, volumesDir, id+".boot")
}

// ConsolePath is where instance id's console log goes.
func (o *Orchestrator) ConsolePath(id string) string {
	return filepath.Join(o.cfg.DataDir, consolesDir, id+".log")
}

// ensureVolume makes the instance's volume a copy of the image disk
// unless it exists (package volumes: a reflink where the filesystem shares
// extents, else a sparse copy; never a half volume after a crash), grown
// sparsely to size if that is larger than the disk.
//
// At most VolumeWorkers copies run at once, and none that would leave
// less than DiskReserve free (disk.go).
func (o *Orchestrator) ensureVolume(ctx context.Context, id, disk string, size int64) (string, error) {
	dst := o.volumePath(id)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	done, err := o.volumeSlot(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	if err := o.checkVolumeSpace(disk); err != nil {
		return "", fmt.Errorf("copy volume of %s: %w", id, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("create volume directory: %w", err)
	}
	if _, err := volumes.CreateSize(disk, dst, size); err != nil {
		return "", fmt.Errorf("copy volume of %s: %w", id, err)
	}
	return dst, nil
}

// removeInstanceFiles deletes the volume, the boot files read from it and
// the console log of a terminated instance.
func (o *Orchestrator) removeInstanceFiles(id string) error {
	if err := volumes.DeleteVolume(o.volumePath(id)); err != nil {
		return err
	}
	if err := os.RemoveAll(o.bootDir(id)); err != nil {
		return fmt.Errorf("remove boot files of %s: %w", id, err)
	}
	p := o.ConsolePath(id)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
