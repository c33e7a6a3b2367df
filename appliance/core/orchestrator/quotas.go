package orchestrator

import (
	"encoding/json"

	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// admit returns the launch's quota check (lifecycle.LaunchSpec.Admit) for
// tenant: instances not terminated (stopped ones keep their lease and
// volume), and the bytes of their root volumes, each its launch's root
// size (else its image's disk), with count more of diskBytes.
func admit(tenant string, diskBytes int64) func(tx *store.Tx, count int) error {
	return func(tx *store.Tx, count int) error {
		l, err := quota.Get(tx, tenant)
		if err != nil {
			return err
		}
		var n, bytes int64
		sizes := map[string]int64{}
		err = tx.Scan(store.Instances, "", func(key string, raw []byte) error {
			var in struct {
				TenantID string          `json:"tenant_id"`
				State    lifecycle.State `json:"state"`
				Image    string          `json:"image"`
				RootSize int64           `json:"root_size"`
			}
			if err := json.Unmarshal(raw, &in); err != nil || in.TenantID != tenant || in.State == lifecycle.Terminated {
				return err
			}
			n++
			if in.RootSize > 0 {
				bytes += in.RootSize
				return nil
			}
			size, ok := sizes[in.Image]
			if !ok {
				size = imageDiskBytes(tx, in.Image)
				sizes[in.Image] = size
			}
			bytes += size
			return nil
		})
		if err != nil {
			return err
		}
		if err := quota.Check("instances", n, int64(count), int64(l.Instances)); err != nil {
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
