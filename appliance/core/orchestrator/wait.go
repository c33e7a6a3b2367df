package orchestrator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// MaxInstanceWait is the longest InstanceWait waits for a state to end.
const MaxInstanceWait = 30 * time.Second

// MaxWaitsPerTenant is how many long-polls (InstanceWait, ConsoleWait) of
// one tenant may wait at once; more answer at once, as without a wait. Each
// holds a connection and a goroutine for up to 30 s, and the per-token
// request rate alone would let one tenant hold hundreds.
const MaxWaitsPerTenant = 32

// waiting counts each tenant's long-polls that wait (the admin's as one
// tenant).
type waiting struct {
	mu sync.Mutex
	n  map[string]int // guarded by mu
}

// enter reports whether tenant may start one more wait; if it may, the
// caller calls leave when the wait ends.
func (w *waiting) enter(tenant string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[tenant] >= MaxWaitsPerTenant {
		return false
	}
	if w.n == nil {
		w.n = map[string]int{}
	}
	w.n[tenant]++
	return true
}

// leave ends a wait that enter admitted.
func (w *waiting) leave(tenant string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[tenant]--; w.n[tenant] == 0 {
		delete(w.n, tenant)
	}
}

// admit returns wait if who may wait (and the function that ends the
// wait), else 0: a tenant at MaxWaitsPerTenant gets its answer at once.
func (o *Orchestrator) admit(who auth.Principal, wait time.Duration) (time.Duration, func()) {
	if wait <= 0 || !o.waits.enter(who.TenantID) {
		return 0, func() {}
	}
	return wait, func() { o.waits.leave(who.TenantID) }
}

// InstanceWait is Instance that, while the instance is in state while,
// waits up to wait (at most MaxInstanceWait; not at all beyond
// MaxWaitsPerTenant waits of who's tenant) for it to leave that state.
// It answers the instance as it is when the state ends or the wait does;
// a client that still sees while calls again. It wakes on the instance's
// next stored change, not on a timer, so a launch's client learns that it
// runs as soon as the store says so, with one request instead of a poll
// every few milliseconds.
func (o *Orchestrator) InstanceWait(ctx context.Context, who auth.Principal, id string, while lifecycle.State, wait time.Duration) (lifecycle.Instance, error) {
	wait, done := o.admit(who, wait)
	defer done()
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
