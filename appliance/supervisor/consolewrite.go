package supervisor

import (
	"context"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// ConsoleWrite types b into the serial port of running instance id,
// through its VMM's control socket, in pieces of at most control.MaxInput
// bytes. It returns how many bytes the guest's UART queued (the rest were
// dropped: the guest is not reading), and ErrNotRunning when the instance
// has no VMM. The VMM paces input, so a long b takes a while; ctx bounds
// it.
func (s *Supervisor) ConsoleWrite(ctx context.Context, id string, b []byte) (int, error) {
	if !jail.ValidID(id) {
		return 0, fmt.Errorf("console write: invalid instance id %q", id)
	}
	if s.lookup(id) == nil {
		return 0, fmt.Errorf("console write %s: %w", id, ErrNotRunning)
	}
	c, err := control.DialContext(ctx, s.opt.socket(id))
	if err != nil {
		return 0, fmt.Errorf("console write %s: %w", id, err)
	}
	defer c.Close()
	n := 0
	for len(b) > 0 {
		k := min(len(b), control.MaxInput)
		got, err := c.Input(ctx, b[:k])
		n += got
		if err != nil {
			return n, fmt.Errorf("console write %s: %w", id, err)
		}
		b = b[k:]
	}
	return n, nil
}
