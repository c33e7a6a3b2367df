package supervisor

import (
	"context"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/control"
)

// Counters returns the running VMM's counters for id, read through its
// control socket: the VM's exits, the serial port, the console, and every
// device's counters under its prefix ("disk0_reads", "net0_rx_packets",
// "rng_served"; vmm/virtio.Counters names them). It fails with ErrUnknown
// when the supervisor does not watch a VMM for id. This is the per-instance
// source for /metrics.
func (s *Supervisor) Counters(ctx context.Context, id string) (map[string]uint64, error) {
	if s.lookup(id) == nil {
		return nil, fmt.Errorf("counters %s: %w", id, ErrUnknown)
	}
	c, err := control.DialContext(ctx, s.opt.socket(id))
	if err != nil {
		return nil, fmt.Errorf("counters %s: %w", id, err)
	}
	defer c.Close()
	m, err := c.Counters(ctx)
	if err != nil {
		return nil, fmt.Errorf("counters %s: %w", id, err)
	}
	return m, nil
}
