package rng

import (
	"sync/atomic"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Counters count what the device served, cumulative, for the control
// socket.
type Counters struct {
	Served uint64 // random bytes handed to the guest
}

var _ virtio.Counted[Counters] = (*Device)(nil)

// Each lists the counters under their control-socket names.
func (c Counters) Each(f func(name string, value uint64)) {
	f("served", c.Served)
}

// stats is Counters with atomic fields.
type stats struct {
	served atomic.Uint64
}

// Counters returns the device's counters.
func (d *Device) Counters() Counters {
	return Counters{Served: d.stats.served.Load()}
}
