package vm

import (
	"maps"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/devices/blk"
	"github.com/ironvisor/ironvisor/vmm/devices/rng"
	"github.com/ironvisor/ironvisor/vmm/devices/serial"
	"github.com/ironvisor/ironvisor/vmm/devices/virtionet"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// TestDeviceCounterKeys pins the names the control socket's counters answer
// carries for every device: they are what the appliance exports, so a
// device's Counters type may not rename one by accident.
func TestDeviceCounterKeys(t *testing.T) {
	m := map[string]uint64{}
	for _, f := range []func(map[string]uint64){
		counted("disk0_", func() blk.Counters {
			return blk.Counters{Reads: 1, Writes: 2, Flushes: 3, Errors: 4, ReadBytes: 5, WriteBytes: 6}
		}),
		counted("net0_", func() virtionet.Counters {
			return virtionet.Counters{RxPackets: 7, RxBytes: 8, RxDropped: 9, TxPackets: 10, TxBytes: 11, TxDropped: 12}
		}),
		counted("rng_", func() rng.Counters { return rng.Counters{Served: 13} }),
	} {
		f(m)
	}
	virtio.Flatten(m, "serial_", serial.Counters{TxBytes: 14, RxBytes: 15, RxDropped: 16, Interrupts: 17})
	want := map[string]uint64{
		"disk0_reads": 1, "disk0_writes": 2, "disk0_flushes": 3, "disk0_errors": 4,
		"disk0_read_bytes": 5, "disk0_write_bytes": 6,
		"net0_rx_packets": 7, "net0_rx_bytes": 8, "net0_rx_dropped": 9,
		"net0_tx_packets": 10, "net0_tx_bytes": 11, "net0_tx_dropped": 12,
		"rng_served":      13,
		"serial_tx_bytes": 14, "serial_rx_bytes": 15, "serial_rx_dropped": 16, "serial_interrupts": 17,
	}
	if !maps.Equal(m, want) {
		t.Errorf("counters\n got %v\nwant %v", m, want)
	}
}
