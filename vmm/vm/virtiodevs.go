package vm

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/devices/blk"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// virtioDevices builds the virtio devices in slot order: disks first, then
// network cards, then the entropy source. The slot decides the device's MMIO
// base and GSI, so guests see a stable order.
func (v *VM) virtioDevices() ([]virtio.Device, error) {
	var devs []virtio.Device
	for i, d := range v.cfg.Disks {
		if d.File == nil {
			return nil, fmt.Errorf("disk %d (%s): no open file", i, d.Path)
		}
		dev, err := blk.New(d.File, blk.Options{ReadOnly: d.ReadOnly, ID: fmt.Sprintf("disk%d", i), Logger: v.log})
		if err != nil {
			return nil, fmt.Errorf("disk %d (%s): %w", i, d.Path, err)
		}
		devs = append(devs, dev)
	}
	if len(v.cfg.Taps) > 0 {
		return nil, fmt.Errorf("virtio-net is not wired into the VMM yet (vmm/devices/net)")
	}
	return devs, nil
}
