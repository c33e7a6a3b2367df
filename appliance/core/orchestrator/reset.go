package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// A guest that resets more than maxResets times within resetWindow is
// rebooting in a loop (a kernel that panics with panic=N, a broken
// initrd): its instance is stopped with the reason rather than restarted
// for ever.
const (
	maxResets   = 10
	resetWindow = time.Minute
)

// resets remembers the recent guest resets of each instance.
type resets struct {
	mu sync.Mutex
	// at holds each instance's reset times within resetWindow; guarded by
	// mu.
	at map[string][]time.Time
}

// add records a reset of id at now and reports whether id has reset more
// than maxResets times within resetWindow.
func (r *resets) add(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string][]time.Time{}
	}
	recent := r.at[id][:0]
	for _, t := range r.at[id] {
		if now.Sub(t) < resetWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	r.at[id] = recent
	return len(recent) > maxResets
}

// VMMReset is the Runner's notification that the guest of instance id
// reset its machine (a reboot from inside: `reboot`, or a panic with
// panic=N). As on EC2, and as a bootloader would, the instance stays
// running: a new VMM is started from a fresh run spec in the background,
// as a reboot by the user does but with no VMM to stop. An instance that
// is no longer running (a stop or terminate got there first) is left to
// that; one whose new VMM cannot start, or that resets in a loop, is
// stopped with the reason.
func (o *Orchestrator) VMMReset(id, reason string) {
	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if o.resets.add(id, o.cfg.Now()) {
			o.detach(ctx, id)
			o.cfg.Life.Apply(ctx, id, lifecycle.Crashed, lifecycle.Change{
				Reason: fmt.Sprintf("guest rebooted more than %d times in %v: %s", maxResets, resetWindow, reason)})
			return
		}
		var failed error
		restart := o.restartVMM(false)
		effect := func(cur lifecycle.Instance, next *lifecycle.Instance) error {
			failed = restart(cur, next)
			return failed
		}
		_, err := o.cfg.Life.Apply(ctx, id, lifecycle.Reboot, lifecycle.Change{Reason: "rebooted by the guest", Effect: effect})
		if err == nil || failed == nil {
			if errors.Is(err, lifecycle.ErrConflict) || err == nil {
				return
			}
			// Not applied for another reason (the store, a timeout): the
			// VMM is gone, so the instance cannot stay running.
			failed = err
		}
		o.cfg.Life.Apply(ctx, id, lifecycle.Crashed, lifecycle.Change{Reason: "restart after the guest rebooted failed: " + failed.Error()})
	}()
}
