package blk

import (
	"sync/atomic"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Counters count the disk's requests, cumulative, for the control socket.
// Errors count requests that ended with a status other than OK.
type Counters struct {
	Reads, Writes, Flushes, Errors uint64
	ReadBytes, WriteBytes          uint64
}

var _ virtio.Counted[Counters] = (*Device)(nil)

// Each lists the counters under their control-socket names.
func (c Counters) Each(f func(name string, value uint64)) {
	f("reads", c.Reads)
	f("writes", c.Writes)
	f("flushes", c.Flushes)
	f("errors", c.Errors)
	f("read_bytes", c.ReadBytes)
	f("write_bytes", c.WriteBytes)
}

// stats is Counters with atomic fields.
type stats struct {
	reads, writes, flushes, errors atomic.Uint64
	readBytes, writeBytes          atomic.Uint64
}

// Counters returns the request counters.
func (d *Device) Counters() Counters {
	s := &d.stats
	return Counters{
		Reads: s.reads.Load(), Writes: s.writes.Load(), Flushes: s.flushes.Load(), Errors: s.errors.Load(),
		ReadBytes: s.readBytes.Load(), WriteBytes: s.writeBytes.Load(),
	}
}
