package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// VMMExited is the Runner's exit notification: a VMM that ended on its own
// (or after a stop) moves its instance to stopped with the reason, and its
// tap goes (the lease stays for the next start). Exits the lifecycle does
// not expect (the instance is already stopped, or shutting down) are
// ignored.
func (o *Orchestrator) VMMExited(id, reason string, crashed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o.detach(ctx, id)
	e := lifecycle.Halted
	if crashed {
		e = lifecycle.Crashed
	}
	o.cfg.Life.Apply(ctx, id, e, lifecycle.Change{Reason: reason})
}

// Reasons of an appliance restart that lost VMMs (a host reboot or power
// loss, or a kill of the appliance that took a VMM along).
const (
	// ReasonRestartDue is recorded by Reconcile on a running or pending
	// instance whose VMM did not survive: it is stopped, and StartAgain
	// starts it. Being stored, it outlives a crash before StartAgain.
	ReasonRestartDue = "vmm did not survive the appliance restart; to be started again"
	// ReasonStartedAgain is the reason of an instance StartAgain started.
	ReasonStartedAgain = "started again after the appliance restarted"
	// reasonNotStartedAgain prefixes the error of a restart that did not
	// pass the start's checks (capacity).
	reasonNotStartedAgain = "not started again after the appliance restarted: "
	// reasonStartingAgain is the reason of the start StartAgain applies,
	// until the boot records ReasonStartedAgain or its failure.
	reasonStartingAgain = "starting again after the appliance restarted"
)

// restartWorkers bounds the instances StartAgain boots at once: a host
// that comes back with many instances boots them in waves rather than
// all together, and the API keeps its share of the machine.
const restartWorkers = 4

// Reconcile runs once at start: instances whose VMM did not survive the
// restart (not in alive) go to stopped (or terminated) with a reason;
// those that were running or pending with ReasonRestartDue, for StartAgain
// to start. An instance it terminates was shutting down when the
// appliance died, between terminate's commit and its cleanup, so its
// volume, console log and VMM directory are removed here (the lease goes
// in SyncNetwork).
func (o *Orchestrator) Reconcile(ctx context.Context, alive []string) ([]lifecycle.Instance, error) {
	live := map[string]bool{}
	for _, id := range alive {
		live[id] = true
	}
	reason := ReasonRestartDue
	if o.cfg.Runner == nil {
		reason = NoHypervisor
	}
	changed, err := o.cfg.Life.Reconcile(ctx, func(in lifecycle.Instance) bool { return live[in.ID] }, reason, o.survivorIPs)
	if err != nil {
		return changed, err
	}
	if err := o.stopOrphans(ctx, alive); err != nil {
		return changed, err
	}
	for _, in := range changed {
		if in.State != lifecycle.Terminated {
			continue
		}
		if rerr := o.removeInstanceFiles(in.ID); rerr != nil {
			return changed, rerr
		}
		if f, ok := o.cfg.Runner.(Forgetter); ok {
			if ferr := f.Forget(in.ID); ferr != nil && !errors.Is(ferr, os.ErrNotExist) {
				return changed, ferr
			}
		}
	}
	return changed, err
}

// StartAgain starts, in the background, the instances Reconcile found
// without their VMM (stopped with ReasonRestartDue), at most
// restartWorkers at a time, each once: a start that passes the same
// checks as a user's (capacity), then the usual boot (its volume, NIC and
// lease, forwards and public IPs are the host network's since
// SyncNetwork, which must run first). A started instance runs with
// ReasonStartedAgain; one that does not fit stays stopped with the
// reason, and one whose VMM does not start is stopped with the boot's
// "vmm start failed" reason, and neither is tried again. An instance a
// user started or terminated meanwhile is left alone. Once ctx ends no
// further instance is started. done, if not nil, gets how many started
// and how many were due, before Wait returns. Without a Runner it does
// nothing but report.
func (o *Orchestrator) StartAgain(ctx context.Context, done func(started, due int)) {
	var due []string
	if o.cfg.Runner != nil {
		// On a store error nothing is due: the instances stay stopped
		// with ReasonRestartDue for the next start.
		insts, _ := store.ListAll[lifecycle.Instance](o.cfg.DB, store.Instances, "")
		for _, in := range insts {
			if in.State == lifecycle.Stopped && in.Reason == ReasonRestartDue {
				due = append(due, in.ID)
			}
		}
	}
	o.bg.Add(1)
	go func() {
		defer o.bg.Done()
		ids := make(chan string)
		var started atomic.Int32
		var wg sync.WaitGroup
		for range min(restartWorkers, len(due)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ids {
					outcome := o.startAgain(ctx, id)
					if outcome == "started" {
						started.Add(1)
					}
					o.metrics.restarts.WithLabelValues(outcome).Inc()
				}
			}()
		}
	feed:
		for _, id := range due {
			select {
			case ids <- id:
			case <-ctx.Done():
				break feed
			}
		}
		close(ids)
		wg.Wait()
		if done != nil {
			done(int(started.Load()), len(due))
		}
	}()
}

// errNotDue aborts StartAgain's start of an instance that a user started
// or terminated since Reconcile.
var errNotDue = errors.New("no longer due a restart")

// startAgain starts instance id, stopped with ReasonRestartDue, and boots
// it; it returns the outcome: "started" (its VMM runs), "failed" (it is
// stopped with the reason) or "left" (a user acted on it first).
func (o *Orchestrator) startAgain(ctx context.Context, id string) string {
	due := func(cur lifecycle.Instance, _ *lifecycle.Instance) error {
		if cur.State != lifecycle.Stopped || cur.Reason != ReasonRestartDue {
			return errNotDue
		}
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, busyWait)
	in, err := o.cfg.Life.Apply(actx, id, lifecycle.Start, lifecycle.Change{Reason: reasonStartingAgain, Effect: due})
	cancel()
	if errors.Is(err, errNotDue) || errors.Is(err, apiv1.NotFound) {
		return "left"
	}
	if err != nil {
		// Capacity, or the store: the instance stays stopped, and says
		// why, unless it changed meanwhile.
		nctx, cancel := context.WithTimeout(context.Background(), busyWait)
		defer cancel()
		if _, noted, _ := o.cfg.Life.Annotate(nctx, id, lifecycle.Stopped, ReasonRestartDue, reasonNotStartedAgain+err.Error()); !noted {
			return "left"
		}
		return "failed"
	}
	if o.bootNow(in, ReasonStartedAgain) {
		return "started"
	}
	return "failed"
}

// survivorIPs is the effect of a pending instance's move to running when
// its VMM outlived the appliance that started it: that appliance died
// before the "vmm started" commit, which records the NIC's address
// (recordIPs), so the address comes from the lease the VMM was started
// with (Attach takes it before the start). A lease that is missing cannot
// be made up: the instance runs without an address, and the failure is
// counted.
func (o *Orchestrator) survivorIPs(cur lifecycle.Instance, next *lifecycle.Instance) error {
	if cur.Network == "" || o.cfg.NICs == nil {
		return nil
	}
	l, ok := o.cfg.NICs.Lease(cur.ID)
	if !ok {
		o.metrics.netFailures.Inc()
		return nil
	}
	next.IPs = []string{l.IP.String()}
	return nil
}

// stopOrphans force-stops every VMM in alive whose instance is unknown or,
// after reconciling, not running (nothing may run that no instance
// accounts for), and forgets it unless a stopped instance still shows its
// console through it.
func (o *Orchestrator) stopOrphans(ctx context.Context, alive []string) error {
	for _, id := range alive {
		in, err := o.cfg.Life.Get(id)
		// lifecycle.ErrNotFound: matching store.ErrNotFound alone, as
		// before the taxonomy, missed it and failed the reconcile.
		unknown := errors.Is(err, apiv1.NotFound)
		switch {
		case err != nil && !unknown:
			return err
		case err == nil && mayRun(in.State):
			continue
		}
		if err := o.cfg.Runner.Stop(ctx, id, true); err != nil {
			return fmt.Errorf("stop orphaned vmm %s: %w", id, err)
		}
		if f, ok := o.cfg.Runner.(Forgetter); ok && (unknown || in.State == lifecycle.Terminated) {
			if err := f.Forget(id); err != nil {
				return fmt.Errorf("forget orphaned vmm %s: %w", id, err)
			}
		}
	}
	return nil
}

// SyncNetwork converges the host network to the store once at start, after
// Reconcile: every network and group, the taps of instances that may have a
// VMM, and no lease, forward or public IP for an instance that is gone or
// terminated. It does nothing without NICs.
func (o *Orchestrator) SyncNetwork(ctx context.Context) error {
	if o.cfg.NICs == nil {
		return nil
	}
	insts, err := store.ListAll[lifecycle.Instance](o.cfg.DB, store.Instances, "")
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, in := range insts {
		live[in.ID] = in.State != lifecycle.Terminated
	}
	st, err := o.cfg.Domain.StartState(func(id string) bool { return live[id] })
	if err != nil {
		return err
	}
	return o.cfg.NICs.Sync(ctx, st, insts)
}
