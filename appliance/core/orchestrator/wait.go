package orchestrator

import (
	"context"
	"errors"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// MaxInstanceWait is the longest InstanceWait waits for a state to end.
const MaxInstanceWait = 30 * time.Second

// InstanceWait is Instance that, while the instance is in state while,
// waits up to wait (at most MaxInstanceWait) for it to leave that state.
// It answers the instance as it is when the state ends or the wait does;
// a client that still sees while calls again. It wakes on the instance's
// next stored change, not on a timer, so a launch's client learns that it
// runs as soon as the store says so, with one request instead of a poll
// every few milliseconds.
func (o *Orchestrator) InstanceWait(ctx context.Context, who auth.Principal, id string, while lifecycle.State, wait time.Duration) (lifecycle.Instance, error) {
	timer := time.NewTimer(min(wait, MaxInstanceWait))
	defer timer.Stop()
	for {
		in, woken, err := o.waitChange(ctx, who, id, while, timer.C)
		if !woken {
			return in, err
		}
	}
}

// waitChange reads instance id and, if it is in state while, waits for
// its next stored change, the end of the wait or the client's. It reports
// whether a change woke it, so that the caller reads again.
func (o *Orchestrator) waitChange(ctx context.Context, who auth.Principal, id string, while lifecycle.State, end <-chan time.Time) (lifecycle.Instance, bool, error) {
	changed, release := o.cfg.Life.Watch(id)
	defer release()
	in, err := o.Instance(id, who)
	if err != nil || in.State != while {
		return in, false, err
	}
	select {
	case <-changed:
		return in, true, nil
	case <-end:
		return in, false, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return in, false, ctx.Err()
		}
		return in, false, nil
	}
}
