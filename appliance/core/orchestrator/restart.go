package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// Reconcile runs once at start: instances whose VMM did not survive the
// restart (not in alive) go to stopped (or terminated) with a reason. An
// instance it terminates was shutting down when the appliance died, between
// terminate's commit and its cleanup, so its volume, console log and VMM
// directory are removed here (the lease goes in SyncNetwork).
func (o *Orchestrator) Reconcile(ctx context.Context, alive []string) ([]lifecycle.Instance, error) {
	live := map[string]bool{}
	for _, id := range alive {
		live[id] = true
	}
	reason := "vmm did not survive the appliance restart"
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
