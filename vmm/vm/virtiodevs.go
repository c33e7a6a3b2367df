package vm

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/devices/blk"
	"github.com/ironvisor/ironvisor/vmm/devices/rng"
	"github.com/ironvisor/ironvisor/vmm/devices/virtionet"
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
		v.devCounters = append(v.devCounters, counted(fmt.Sprintf("disk%d_", i), dev.Counters))
	}
	for i, t := range v.cfg.Taps {
		if t.File == nil {
			return nil, fmt.Errorf("tap %d (%s): no open file", i, t.Name)
		}
		dev, err := virtionet.New(t.File, virtionet.Options{MAC: t.MAC, Logger: v.log})
		if err != nil {
			return nil, fmt.Errorf("tap %d (%s): %w", i, t.Name, err)
		}
		devs = append(devs, dev)
		v.devCounters = append(v.devCounters, counted(fmt.Sprintf("net%d_", i), dev.Counters))
	}
	if !v.cfg.NoRNG {
		dev := rng.New(rng.Options{Logger: v.log})
		devs = append(devs, dev)
		v.devCounters = append(v.devCounters, counted("rng_", dev.Counters))
	}
	return devs, nil
}

// counted returns a function that adds a device's counters, read through
// its Counters method, to the VM's map with each name prefixed.
func counted[C virtio.Counters](prefix string, counters func() C) func(map[string]uint64) {
	return func(m map[string]uint64) { virtio.Flatten(m, prefix, counters()) }
}
