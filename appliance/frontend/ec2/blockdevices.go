package ec2

import (
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
)

// rootDevice is the device name of every instance's root volume: the
// first virtio disk, which DescribeImages reports as rootDeviceName.
const rootDevice = "/dev/vda"

// rootSizeGiB decodes RunInstances' BlockDeviceMapping.N: one mapping of
// the root device whose Ebs.VolumeSize (GiB) sizes the root volume (the
// core's root_size_gib, at least the image's disk); 0 when none is
// given. Other devices, snapshots and NoDevice are UnsupportedOperation:
// an instance has one disk here. Ebs.VolumeType, Ebs.DeleteOnTermination
// (true: the volume goes with its instance) and Ebs.Encrypted (false)
// are accepted only with the values that hold here.
func rootSizeGiB(p params) (int, error) {
	ms, err := p.members("BlockDeviceMapping")
	if err != nil {
		return 0, err
	}
	size := 0
	for _, m := range ms {
		dev := m.str("DeviceName")
		switch {
		case dev == "":
			return 0, missing("BlockDeviceMapping.DeviceName")
		case dev != rootDevice:
			return 0, newError("UnsupportedOperation", "BlockDeviceMapping %s: only the root device %s can be mapped here", trim(dev, 32), rootDevice)
		case m.has("NoDevice") || m.str("VirtualName") != "" || m.str("Ebs.SnapshotId") != "":
			return 0, newError("UnsupportedOperation", "BlockDeviceMapping %s: only Ebs.VolumeSize can be set", rootDevice)
		case size != 0:
			return 0, invalidValue("BlockDeviceMapping: the device %s is mapped twice", rootDevice)
		}
		if t := m.str("Ebs.VolumeType"); t != "" && t != "gp2" && t != "gp3" && t != "standard" {
			return 0, invalidValue("BlockDeviceMapping Ebs.VolumeType %q: this endpoint offers gp2, gp3 or standard (one kind of local disk)", trim(t, 16))
		}
		if del, err := m.boolean("Ebs.DeleteOnTermination"); err != nil || (m.has("Ebs.DeleteOnTermination") && !del) {
			return 0, invalidValue("BlockDeviceMapping Ebs.DeleteOnTermination: a root volume here always goes with its instance (true)")
		}
		if enc, err := m.boolean("Ebs.Encrypted"); err != nil || enc {
			return 0, invalidValue("BlockDeviceMapping Ebs.Encrypted: volumes are not encrypted here (false)")
		}
		if size, err = m.integer("Ebs.VolumeSize", 0, 1, orchestrator.MaxRootGiB); err != nil {
			return 0, err
		}
		if size == 0 {
			return 0, missing("BlockDeviceMapping.Ebs.VolumeSize")
		}
	}
	return size, nil
}
