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
		p := fmt.Sprintf("disk%d_", i)
		v.devCounters = append(v.devCounters, func(m map[string]uint64) {
			s := dev.Stats()
			m[p+"reads"], m[p+"writes"], m[p+"flushes"], m[p+"errors"] = s.Reads, s.Writes, s.Flushes, s.Errors
			m[p+"read_bytes"], m[p+"write_bytes"] = s.ReadBytes, s.WriteBytes
		})
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
		p := fmt.Sprintf("net%d_", i)
		v.devCounters = append(v.devCounters, func(m map[string]uint64) {
			c := dev.Counters()
			m[p+"rx_packets"], m[p+"rx_bytes"], m[p+"rx_dropped"] = c.RxPackets, c.RxBytes, c.RxDropped
			m[p+"tx_packets"], m[p+"tx_bytes"], m[p+"tx_dropped"] = c.TxPackets, c.TxBytes, c.TxDropped
		})
	}
	if !v.cfg.NoRNG {
		dev := rng.New()
		devs = append(devs, dev)
		v.devCounters = append(v.devCounters, func(m map[string]uint64) { m["rng_served"] = dev.Served() })
	}
	return devs, nil
}
