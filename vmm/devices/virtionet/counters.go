package virtionet

import (
	"sync/atomic"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Counters are the NIC's traffic counters, cumulative, for the control
// socket. Drops count frames lost in the device: no receive buffer, a frame
// too big for the buffers, a header the driver may not send, a tap error.
type Counters struct {
	RxPackets, RxBytes, RxDropped uint64
	TxPackets, TxBytes, TxDropped uint64
}

var _ virtio.Counted[Counters] = (*Device)(nil)

// Each lists the counters under their control-socket names.
func (c Counters) Each(f func(name string, value uint64)) {
	f("rx_packets", c.RxPackets)
	f("rx_bytes", c.RxBytes)
	f("rx_dropped", c.RxDropped)
	f("tx_packets", c.TxPackets)
	f("tx_bytes", c.TxBytes)
	f("tx_dropped", c.TxDropped)
}

// stats is Counters with atomic fields.
type stats struct {
	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
}

// Counters returns the traffic counters.
func (d *Device) Counters() Counters {
	s := &d.stats
	return Counters{
		RxPackets: s.rxPackets.Load(), RxBytes: s.rxBytes.Load(), RxDropped: s.rxDropped.Load(),
		TxPackets: s.txPackets.Load(), TxBytes: s.txBytes.Load(), TxDropped: s.txDropped.Load(),
	}
}
