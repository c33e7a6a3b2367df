package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Launch limits.
const (
	MaxLaunchCount = 100
	MaxUserData    = 16 << 10
)

// LaunchSpec is a validated launch request. The caller has checked that
// the image, network, security groups and key exist and belong to TenantID.
type LaunchSpec struct {
	TenantID       string
	Image          string
	Type           string
	Count          int
	UserData       []byte
	Network        string
	SecurityGroups []string
	KeyName        string
	// PublicKey is KeyName's OpenSSH public key, kept with the instance
	// (as EC2 does) even if the key pair is deleted later.
	PublicKey string
	Reason    string
	// HTTPTokens is the metadata token policy: "", HTTPTokensOptional or
	// HTTPTokensRequired.
	HTTPTokens string
	// RootSize is the root volume's size in bytes (0: no disk).
	RootSize int64
	// Admit, if set, is asked in the launch's transaction before the
	// capacity check (the tenant's quotas), with what the tenant's
	// instances hold as of that transaction; its error fails the launch.
	Admit func(tx *store.Tx, count int, used TenantUsage) error
}

// Launch creates Count instances in pending, all or none, after checking
// that they fit on the host next to every instance that holds capacity.
// It fails with InsufficientCapacity, or ErrInvalid from package types for
// a bad count, type or user data.
func (m *Manager) Launch(spec LaunchSpec) ([]Instance, error) {
	if spec.Count < 1 || spec.Count > MaxLaunchCount {
		return nil, fmt.Errorf("launch: %w: count %d not in 1..%d", types.ErrInvalid, spec.Count, MaxLaunchCount)
	}
	if len(spec.UserData) > MaxUserData {
		return nil, fmt.Errorf("launch: %w: user_data is %d bytes, limit %d", types.ErrInvalid, len(spec.UserData), MaxUserData)
	}
	if spec.TenantID == "" || spec.Image == "" {
		return nil, fmt.Errorf("launch: %w: tenant and image are required", types.ErrInvalid)
	}
	if spec.Reason == "" {
		spec.Reason = "launched"
	}
	if spec.HTTPTokens != "" && spec.HTTPTokens != HTTPTokensOptional && spec.HTTPTokens != HTTPTokensRequired {
		return nil, fmt.Errorf("launch: %w: http_tokens %q: must be optional or required", types.ErrInvalid, spec.HTTPTokens)
	}
	var out []Instance
	err := m.update("", func(tx *store.Tx, h *heldTotals) error {
		out = nil
		t, err := types.GetTx(tx, spec.Type)
		if err != nil {
			return err
		}
		if spec.Admit != nil {
			if err := spec.Admit(tx, spec.Count, h.usage(spec.TenantID)); err != nil {
				return err
			}
		}
		if err := m.fits(*h, t, spec.Count); err != nil {
			return err
		}
		now := m.clock.Now().UTC()
		for i := 0; i < spec.Count; i++ {
			id, err := store.NewID("i-")
			if err != nil {
				return err
			}
			inst := Instance{
				ID: id, TenantID: spec.TenantID, Image: spec.Image, Type: t,
				State: Pending, Reason: spec.Reason, CreateTime: now, LaunchTime: now,
				StateChanged: now, Generation: 1, Network: spec.Network,
				SecurityGroups: spec.SecurityGroups, KeyName: spec.KeyName, PublicKey: spec.PublicKey,
				UserData: spec.UserData, HTTPTokens: spec.HTTPTokens, RootSize: spec.RootSize, LaunchIndex: i,
			}
			if err := tx.Create(store.Instances, id, inst); err != nil {
				return err
			}
			h.change(Instance{}, inst)
			out = append(out, inst)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	return out, nil
}

// fits checks that count instances of t fit next to the instances that
// hold h.
func (m *Manager) fits(h heldTotals, t types.Type, count int) error {
	return types.FitsUsed(m.host, h.VCPUs, h.Mem, t, count)
}

// Sweep forgets terminated instances past their retention and returns
// their IDs. Their usage records stay.
func (m *Manager) Sweep(ctx context.Context) ([]string, error) {
	all, err := store.ListAll[Instance](m.db, store.Instances, "")
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var gone []string
	for _, inst := range all {
		if !Expired(inst, m.clock.Now()) {
			continue
		}
		unlock, err := m.lock(ctx, inst.ID)
		if err != nil {
			return gone, fmt.Errorf("sweep: %w", err)
		}
		err = m.update(inst.ID, func(tx *store.Tx, h *heldTotals) error {
			cur, err := getTx(tx, inst.ID)
			if err != nil || !Expired(cur, m.clock.Now()) {
				return err
			}
			gone = append(gone, inst.ID)
			h.change(cur, Instance{})
			return tx.Delete(store.Instances, inst.ID)
		})
		unlock()
		if err != nil && !errors.Is(err, ErrNotFound) {
			return gone, fmt.Errorf("sweep %s: %w", inst.ID, err)
		}
	}
	return gone, nil
}

// SurvivedReason is the reason Reconcile records on a pending instance
// whose VMM started before the restart and still runs.
const SurvivedReason = "vmm started before the appliance restart and survived it"

// StopCompletedReason is the reason Reconcile records on an instance that
// was stopping when the appliance died: its stop had ended the VMM, and
// only its settling to stopped was lost.
const StopCompletedReason = "stopped by user request; the appliance restarted before the stop was recorded"

// Reconcile runs once at appliance start, before any other event. For
// every instance that should have a VMM (pending, running, stopping,
// shutting-down) it asks alive whether the VMM survived the restart (for a
// pending or running one; the others ended theirs before they committed
// that state). Live running ones are left as they are, and their running
// intervals keep counting; a live pending one (the appliance died between starting its VMM
// and recording it) moves to running, with SurvivedReason, as the start
// would have done; survived, if not nil, is that move's Effect, run under
// the instance's lock as a start's is, and gives the instance what the
// start would have recorded with it (its IPs). Dead pending and running
// ones move to stopped with the given reason, dead stopping ones to
// stopped with StopCompletedReason (the user's stop stands), and
// shutting-down ones to terminated; a running one is metered up to its
// last checkpoint only. It returns the instances it changed.
func (m *Manager) Reconcile(ctx context.Context, alive func(Instance) bool, reason string, survived func(cur Instance, next *Instance) error) ([]Instance, error) {
	all, err := store.ListAll[Instance](m.db, store.Instances, "")
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	var changed []Instance
	for _, inst := range all {
		if !holdsCapacity(inst.State) {
			continue
		}
		// Stopping and shutting-down are committed after their VMM
		// ended, so one that looks alive is an orphan for the caller to
		// stop; the instance settles as if it were gone.
		live := (inst.State == Pending || inst.State == Running) && alive(inst)
		if live && inst.State != Pending {
			continue
		}
		unlock, err := m.lock(ctx, inst.ID)
		if err != nil {
			return changed, fmt.Errorf("reconcile: %w", err)
		}
		var next Instance
		if live {
			next, err = m.applyHeld(inst.ID, Booted, Change{Reason: SurvivedReason, Effect: survived})
		} else {
			next, err = m.markLost(inst.ID, reason)
		}
		unlock()
		if err != nil {
			return changed, fmt.Errorf("reconcile %s: %w", inst.ID, err)
		}
		changed = append(changed, next)
	}
	return changed, nil
}

// markLost moves instance id, whose VMM is gone, to stopped (or
// terminated from shutting-down), closing its meter at the checkpoint.
func (m *Manager) markLost(id, reason string) (Instance, error) {
	var next Instance
	err := m.update(id, func(tx *store.Tx, h *heldTotals) error {
		cur, err := getTx(tx, id)
		if err != nil {
			return err
		}
		e := Crashed
		if cur.State == ShuttingDown {
			e = Cleaned
		}
		why := reason
		if cur.State == Stopping {
			why = StopCompletedReason
		}
		var changed bool
		next, changed, err = m.plan(*h, cur, e, Change{Reason: why})
		if err != nil || !changed {
			return err
		}
		if err := metering.CloseAtCheckpoint(tx, id); err != nil {
			return err
		}
		h.change(cur, next)
		return tx.Put(store.Instances, id, next)
	})
	return next, err
}

// Annotate replaces the reason of instance id with reason if the instance
// is still in state in with the reason was (a note on an outcome that
// changed no state, such as a restart refused for capacity). It returns
// the stored instance and whether it changed it.
func (m *Manager) Annotate(ctx context.Context, id string, in State, was, reason string) (Instance, bool, error) {
	unlock, err := m.lock(ctx, id)
	if err != nil {
		return Instance{}, false, fmt.Errorf("annotate %s: %w", id, err)
	}
	defer unlock()
	var out Instance
	var changed bool
	err = m.update(id, func(tx *store.Tx, _ *heldTotals) error {
		cur, err := getTx(tx, id)
		if err != nil {
			return err
		}
		out = cur
		if cur.State != in || cur.Reason != was {
			return nil
		}
		out.Reason = reason
		out.Generation++
		changed = true
		return tx.Put(store.Instances, id, out)
	})
	if err != nil {
		return Instance{}, false, fmt.Errorf("annotate %s: %w", id, err)
	}
	return out, changed, nil
}
