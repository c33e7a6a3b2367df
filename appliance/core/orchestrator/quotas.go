package orchestrator

import (
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// admit returns the launch's quota check (lifecycle.LaunchSpec.Admit) for
// tenant: instances not terminated (stopped ones keep their lease and
// volume), and the bytes of their root volumes, each its launch's root
// size (else its image's disk), with count more of diskBytes. The usage
// comes from the lifecycle's running totals: only the images of instances
// recorded without a root size are read.
func admit(tenant string, diskBytes int64) func(tx *store.Tx, count int, used lifecycle.TenantUsage) error {
	return func(tx *store.Tx, count int, used lifecycle.TenantUsage) error {
		l, err := quota.Get(tx, tenant)
		if err != nil {
			return err
		}
		bytes := used.RootBytes
		for img, n := range used.NoRootSize {
			bytes += int64(n) * imageDiskBytes(tx, img)
		}
		if err := quota.Check("instances", int64(used.Instances), int64(count), int64(l.Instances)); err != nil {
			return err
		}
		return quota.Check("volume bytes", bytes, int64(count)*diskBytes, l.VolumeBytes)
	}
}

// imageDiskBytes is the size of image id's disk in tx (0 for none, or an
// image deleted since: its instances' volumes are counted from then on by
// the free-space check alone).
func imageDiskBytes(tx *store.Tx, id string) int64 {
	img, err := store.Get[images.Image](tx, store.Images, id)
	if err != nil || img.Disk == nil {
		return 0
	}
	return img.Disk.Size
}

// diskBytes is the size of img's disk, 0 without one.
func diskBytes(img images.Image) int64 {
	if img.Disk == nil {
		return 0
	}
	return img.Disk.Size
}
