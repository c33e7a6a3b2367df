package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// ConsoleWriter is optionally implemented by a Runner that can type into
// a running instance's serial port; the supervisor does.
type ConsoleWriter interface {
	// ConsoleWrite queues b for the serial port of running instance id and
	// returns how many bytes the guest's UART took.
	ConsoleWrite(ctx context.Context, id string, b []byte) (int, error)
}

// Serial console limits.
const (
	// MaxConsoleInput is the most one ConsoleWrite carries.
	MaxConsoleInput = 16 << 10
	// MaxConsoleWait is the longest a console read may wait for output.
	MaxConsoleWait = 30 * time.Second
	// consolePoll is how often a waiting read asks the VMM again: output
	// reaches a long-polling client within about this.
	consolePoll = 50 * time.Millisecond
)

// ConsoleWrite types b into the serial port of who's instance id, which
// must be running (IncorrectState otherwise), and returns how many bytes
// the guest's UART took; the rest were dropped because the guest is not
// reading its serial port.
func (o *Orchestrator) ConsoleWrite(ctx context.Context, who auth.Principal, id string, b []byte) (int, error) {
	in, err := o.Instance(id, who)
	if err != nil {
		return 0, err
	}
	if len(b) == 0 || len(b) > MaxConsoleInput {
		return 0, fmt.Errorf("%w: console input of %d bytes (want 1..%d)", apiv1.InvalidParameter, len(b), MaxConsoleInput)
	}
	if in.State != lifecycle.Running {
		return 0, fmt.Errorf("%w: instance %s is %s: its console takes input only while running", apiv1.IncorrectState, in.ID, in.State)
	}
	w, ok := o.cfg.Runner.(ConsoleWriter)
	if !ok {
		return 0, fmt.Errorf("%w: this host cannot type into consoles", apiv1.IncorrectState)
	}
	n, err := w.ConsoleWrite(ctx, in.ID, b)
	if err != nil {
		return n, fmt.Errorf("console input of %s: %w", in.ID, err)
	}
	return n, nil
}

// ConsoleWait is Console that, when there is no output past off yet and
// the instance is running, waits up to wait for some (at most
// MaxConsoleWait; not at all beyond MaxWaitsPerTenant waits of who's
// tenant). It answers with whatever there is when the wait ends, possibly
// nothing; a client long-polls by calling it again from next.
func (o *Orchestrator) ConsoleWait(ctx context.Context, who auth.Principal, id string, off int64, max int, wait time.Duration) (out []byte, next int64, available bool, err error) {
	wait, done := o.admit(who, min(wait, MaxConsoleWait))
	defer done()
	deadline := time.Now().Add(wait)
	t := time.NewTicker(consolePoll)
	defer t.Stop()
	for {
		out, next, available, err = o.Console(ctx, who, id, off, max)
		if err != nil || len(out) > 0 || next != off || !available || wait == 0 || time.Now().After(deadline) {
			return out, next, available, err
		}
		if in, ierr := o.Instance(id, who); ierr != nil || in.State != lifecycle.Running {
			return out, next, available, nil // no more output is coming
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return out, next, available, ctx.Err()
			}
			return out, next, available, nil
		}
	}
}
