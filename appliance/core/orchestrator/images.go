package orchestrator

import (
	"fmt"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// MaxRootGiB bounds a launch's root_size_gib: a sparse file on the data
// disk (ext4 files stop at 16 TiB).
const MaxRootGiB = 8 << 10

// gib is a GiB in bytes.
const gib = 1 << 30

// rootSize returns the root volume size of an instance of img: the
// image's disk, or sizeGiB when that is set and at least as large. An
// image without a disk has no root volume (0).
func rootSize(img images.Image, sizeGiB int) (int64, error) {
	if img.Disk == nil {
		if sizeGiB != 0 {
			return 0, fmt.Errorf("%w: root_size_gib: image %q has no disk", apiv1.InvalidParameter, img.Name)
		}
		return 0, nil
	}
	if sizeGiB == 0 {
		return img.Disk.Size, nil
	}
	if sizeGiB < 0 || sizeGiB > MaxRootGiB {
		return 0, fmt.Errorf("%w: root_size_gib %d: must be 1..%d", apiv1.InvalidParameter, sizeGiB, MaxRootGiB)
	}
	size := int64(sizeGiB) * gib
	if size < img.Disk.Size {
		return 0, fmt.Errorf("%w: root_size_gib %d is smaller than image %q's disk (%d bytes, %.2f GiB)",
			apiv1.InvalidParameter, sizeGiB, img.Name, img.Disk.Size, float64(img.Disk.Size)/gib)
	}
	return size, nil
}

// DeleteImage deletes image ref (ID or name) unless an instance that is
// not terminated was launched from it (InUse): a stopped instance may
// start again, and an instance whose root volume does not exist yet
// copies it at its first start. Launches wait while it checks.
func (o *Orchestrator) DeleteImage(ref string) error {
	o.imgMu.Lock()
	defer o.imgMu.Unlock()
	img, err := o.cfg.Images.Get(ref)
	if err != nil {
		return err
	}
	all, err := o.cfg.Life.List("")
	if err != nil {
		return err
	}
	var users []string
	for _, in := range all {
		if in.Image == img.ID && in.State != lifecycle.Terminated {
			users = append(users, in.ID)
		}
	}
	if len(users) > 0 {
		more := ""
		if len(users) > 3 {
			users, more = users[:3], fmt.Sprintf(" and %d more", len(users)-3)
		}
		return fmt.Errorf("image %q: %w by instance %v%s: terminate them first", img.Name, apiv1.InUse, users, more)
	}
	return o.cfg.Images.Delete(img.ID)
}
