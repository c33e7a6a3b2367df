package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// TerminatedRetention is how long a terminated instance stays visible.
const TerminatedRetention = time.Hour

// ErrNotFound is wrapped when an instance does not exist.
var ErrNotFound = apiv1.NewError(apiv1.NotFound, "instance not found")

// Clock tells the time; tests use a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Instance is the stored record of one instance.
type Instance struct {
	ID       string     `json:"id"`
	TenantID string     `json:"tenant_id"`
	Image    string     `json:"image"`
	Type     types.Type `json:"type"`
	State    State      `json:"state"`
	// Reason explains the last transition ("user request", "guest powered
	// off", "vmm exited: signal: killed"...).
	Reason string `json:"reason"`
	// CreateTime is when the instance was launched; LaunchTime when it last
	// entered pending (launch or start), as EC2 reports it.
	CreateTime   time.Time  `json:"create_time"`
	LaunchTime   time.Time  `json:"launch_time"`
	StateChanged time.Time  `json:"state_changed"`
	TerminatedAt *time.Time `json:"terminated_at,omitempty"`
	// Generation counts transitions; it changes whenever the record does.
	Generation     uint64   `json:"generation"`
	Network        string   `json:"network,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	KeyName        string   `json:"key_name,omitempty"`
	PublicKey      string   `json:"public_key,omitempty"` // KeyName's, at launch
	UserData       []byte   `json:"user_data,omitempty"`
	IPs            []string `json:"ips,omitempty"`
	// HTTPTokens is the metadata service's token policy for this instance,
	// as EC2's MetadataOptions.HttpTokens: HTTPTokensRequired refuses
	// IMDSv1 (a GET without a session token); "" means HTTPTokensOptional.
	HTTPTokens string `json:"http_tokens,omitempty"`
	// RootSize is the size in bytes the root volume is grown to at its
	// creation; 0 for an image without a disk (or the image's size, for
	// instances launched before it was recorded).
	RootSize int64 `json:"root_size,omitempty"`
	// LaunchIndex is the instance's place in its launch, from 0 (EC2's
	// ami-launch-index).
	LaunchIndex int `json:"launch_index,omitempty"`
}

// Metadata token policies (Instance.HTTPTokens).
const (
	HTTPTokensOptional = "optional" // IMDSv1 and IMDSv2
	HTTPTokensRequired = "required" // IMDSv2 only
)

// Expired reports whether a terminated instance has been visible for
// TerminatedRetention and may be forgotten.
func Expired(inst Instance, now time.Time) bool {
	return inst.State == Terminated && inst.TerminatedAt != nil &&
		!now.Before(inst.TerminatedAt.Add(TerminatedRetention))
}

// Manager applies lifecycle events to stored instances. Events on one
// instance are serialised: each Apply holds that instance's lock from
// reading the record to committing the new one, including the caller's
// effect, so two calls never interleave.
type Manager struct {
	db    *store.DB
	clock Clock
	host  types.Host

	// heldMu serialises the transactions that write instances (they
	// change held) and is held by those that read held.
	heldMu sync.Mutex
	// held totals the instances that hold capacity, as committed: nil
	// until the first transaction that needs it scans them; guarded by
	// heldMu.
	held *heldTotals

	mu sync.Mutex
	// locks holds a one-slot semaphore per instance with waiters; guarded
	// by mu.
	locks map[string]*instLock

	watchMu sync.Mutex
	// watches holds the channel of each instance someone waits on (Watch);
	// guarded by watchMu.
	watches map[string]*watch
}

// instLock is one instance's semaphore and how many goroutines hold or
// wait for it.
type instLock struct {
	sem  chan struct{}
	refs int
	// inEffect is true while the holder runs a Change.Effect; exit events
	// that arrive meanwhile go to deferred instead of waiting (see Apply).
	inEffect bool
	deferred []deferredEvent
}

// deferredEvent is a VMM exit event that arrived while an effect ran.
type deferredEvent struct {
	e  Event
	ch Change
}

// ErrDeferred is returned by Apply for a VMM exit event (halted or
// crashed) that arrived while an effect on the same instance was running:
// the effect (a stop, terminate or reboot) is what ended the VMM, and the
// supervisor reports the exit before that effect returns, so waiting for
// the lock would deadlock until ctx ends. The event is kept and applied
// after the effect if the effect failed (the VMM is gone but the user's
// transition did not happen) or belonged to booted (the VMM it started
// has already ended again); after any other successful effect the
// transition the effect belongs to already accounts for the exit (stop
// settles to stopped, terminate to terminated, reboot runs a new VMM).
var ErrDeferred = errors.New("exit event deferred: an effect on the instance is running")

// deferrable reports whether e with ch is a VMM exit report that Apply
// defers while an effect runs: halted or crashed, with no effect of its own.
func deferrable(e Event, ch Change) bool { return (e == Halted || e == Crashed) && ch.Effect == nil }

// NewManager returns a Manager over db that checks capacity against host.
func NewManager(db *store.DB, clock Clock, host types.Host) *Manager {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Manager{db: db, clock: clock, host: host, locks: map[string]*instLock{}, watches: map[string]*watch{}}
}

// lock takes id's lock, waiting until ctx is done. On ctx expiry it
// returns a busy Conflict.
func (m *Manager) lock(ctx context.Context, id string) (func(), error) {
	m.mu.Lock()
	l := m.locks[id]
	if l == nil {
		l = &instLock{sem: make(chan struct{}, 1)}
		m.locks[id] = l
	}
	l.refs++
	m.mu.Unlock()
	drop := func() {
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.locks, id)
		}
		m.mu.Unlock()
	}
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, &Conflict{Detail: fmt.Sprintf("instance %s is busy with another operation: %v", id, ctx.Err())}
	}
}

// Change carries the optional parts of an event.
type Change struct {
	// Reason is recorded as the reason for the transition.
	Reason string
	// Type is the new type for Resize; required for Resize, ignored
	// otherwise.
	Type *types.Type
	// Effect, if set, runs under the instance lock after the transition is
	// validated and before it is stored (outside any store transaction, so
	// it may be slow); an error aborts the transition and nothing is
	// stored. Of its edits to next only IPs and Reason are kept.
	Effect func(cur Instance, next *Instance) error

	// ips and setIPs carry the IPs an Effect chose into the write.
	ips    []string
	setIPs bool
}

// Apply applies event e to instance id and returns the stored result. It
// fails with a *Conflict (409) when e is not allowed in the current state
// or the instance stays busy until ctx is done, with InsufficientCapacity
// when a start does not fit, and with ErrNotFound for an unknown id.
//
// A halted or crashed event without an Effect (a VMM exit report) that
// arrives while another Apply on the same instance runs its Effect returns
// ErrDeferred at once (see ErrDeferred).
func (m *Manager) Apply(ctx context.Context, id string, e Event, ch Change) (Instance, error) {
	if deferrable(e, ch) && m.deferIfInEffect(id, e, ch) {
		return Instance{}, fmt.Errorf("%s %s: %w", e, id, ErrDeferred)
	}
	unlock, err := m.lock(ctx, id)
	if err != nil {
		return Instance{}, fmt.Errorf("%s %s: %w", e, id, err)
	}
	defer unlock()
	return m.applyHeld(id, e, ch)
}

// applyHeld is Apply once the caller holds id's lock: it runs ch's Effect,
// if any, stores the event, and then applies the exits reported while the
// effect ran.
func (m *Manager) applyHeld(id string, e Event, ch Change) (Instance, error) {
	if ch.Effect == nil {
		return m.applyLocked(id, e, ch)
	}
	ch, late, err := m.runEffect(id, e, ch)
	if err != nil {
		return Instance{}, fmt.Errorf("%s %s: %w", e, id, err)
	}
	out, err := m.applyLocked(id, e, ch)
	if err != nil || out.State != Running {
		return out, err
	}
	// The effect left a VMM running (a boot, a reboot): an exit reported
	// meanwhile ended the instance that has just become, or stayed,
	// running. (A reboot's effect drops its old VMM's exit with
	// DiscardExits once that VMM is gone.)
	for _, d := range late {
		if next, derr := m.applyLocked(id, d.e, d.ch); derr == nil {
			out = next
		}
	}
	return out, nil
}

// deferIfInEffect queues exit event e for id if an effect on id is
// running, and reports whether it did.
func (m *Manager) deferIfInEffect(id string, e Event, ch Change) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.locks[id]
	if l == nil || !l.inEffect {
		return false
	}
	l.deferred = append(l.deferred, deferredEvent{e: e, ch: ch})
	return true
}

// DiscardExits drops the exit reports deferred so far for id. The effect
// holding id calls it once the VMM those reports came from is known to be
// gone and replaced (a reboot's old VMM, after its stop returned), so that
// only later reports, of the VMM it starts, are applied after the commit.
func (m *Manager) DiscardExits(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.locks[id]; l != nil && l.inEffect {
		l.deferred = nil
	}
}

// setInEffect marks whether the holder of id's lock runs an effect; when it
// clears the mark it returns, and forgets, the events deferred meanwhile.
func (m *Manager) setInEffect(id string, on bool) []deferredEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.locks[id] // present: the caller holds it
	l.inEffect = on
	d := l.deferred
	l.deferred = nil
	return d
}

// applyLocked plans and stores event e for id; the caller holds id's lock
// and has run any effect.
func (m *Manager) applyLocked(id string, e Event, ch Change) (Instance, error) {
	var out Instance
	err := m.update(id, func(tx *store.Tx, h *heldTotals) error {
		cur, err := getTx(tx, id)
		if err != nil {
			return err
		}
		next, changed, err := m.plan(*h, cur, e, ch)
		if err != nil || !changed {
			out = next
			return err
		}
		if err := meter(tx, cur, next.State, next.StateChanged); err != nil {
			return err
		}
		out = next
		h.change(cur, next)
		return tx.Put(store.Instances, id, next)
	})
	if err != nil {
		return Instance{}, fmt.Errorf("%s %s: %w", e, id, err)
	}
	return out, nil
}

// runEffect validates e in a read transaction, runs ch.Effect and returns
// ch with the effect's kept edits folded in. The caller holds id's lock,
// so the record cannot change before the write transaction.
func (m *Manager) runEffect(id string, e Event, ch Change) (Change, []deferredEvent, error) {
	var cur, next Instance
	err := m.view(func(tx *store.Tx, h heldTotals) error {
		var err error
		if cur, err = getTx(tx, id); err != nil {
			return err
		}
		next, _, err = m.plan(h, cur, e, ch)
		return err
	})
	if err != nil {
		return ch, nil, err
	}
	m.setInEffect(id, true)
	err = ch.Effect(cur, &next)
	deferred := m.setInEffect(id, false)
	if err != nil {
		// The effect failed: the exits it saw are real news.
		for _, d := range deferred {
			m.applyLocked(id, d.e, d.ch)
		}
		return ch, nil, err
	}
	ch.Effect = nil
	ch.Reason = next.Reason
	ch.ips = next.IPs
	ch.setIPs = true
	return ch, deferred, nil
}

// plan computes the record after event e, checking capacity for a start.
// changed is false for an idempotent repeat (a stop of a stopped
// instance), which stores nothing.
// h is what the instances that hold capacity hold, cur among them if it
// does.
func (m *Manager) plan(h heldTotals, cur Instance, e Event, ch Change) (next Instance, changed bool, err error) {
	to, err := Next(cur.State, e)
	if err != nil {
		return cur, false, err
	}
	if to == cur.State && e != Reboot && e != Resize {
		return cur, false, nil
	}
	now := m.clock.Now().UTC()
	next = cur
	switch e {
	case Resize:
		if ch.Type == nil {
			return cur, false, fmt.Errorf("resize: no type given: %w", types.ErrInvalid)
		}
		if err := types.Validate(*ch.Type); err != nil {
			return cur, false, err
		}
		next.Type = *ch.Type
	case Start:
		if err := m.fits(h.without(cur), cur.Type, 1); err != nil {
			return cur, false, err
		}
		next.LaunchTime = now
	}
	if to == Terminated {
		next.TerminatedAt = &now
	}
	if ch.setIPs {
		next.IPs = ch.ips
	}
	next.State, next.Reason, next.StateChanged = to, ch.Reason, now
	next.Generation++
	return next, true, nil
}

// meter opens or closes the running interval when an instance enters or
// leaves running.
func meter(tx *store.Tx, cur Instance, to State, now time.Time) error {
	switch {
	case cur.State != Running && to == Running:
		return metering.Start(tx, cur.TenantID, cur.ID, cur.Type, now)
	case cur.State == Running && to != Running:
		return metering.Stop(tx, cur.ID, now)
	}
	return nil
}

// getTx reads instance id.
func getTx(tx *store.Tx, id string) (Instance, error) {
	inst, err := store.Get[Instance](tx, store.Instances, id)
	if errors.Is(err, store.ErrNotFound) {
		return Instance{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return inst, err
}

// Get returns instance id.
func (m *Manager) Get(id string) (Instance, error) {
	var inst Instance
	err := m.db.View(func(tx *store.Tx) error {
		var err error
		inst, err = getTx(tx, id)
		return err
	})
	return inst, err
}

// List returns the instances of tenantID (all tenants if empty), by ID.
// Terminated instances past their retention are left out even before
// Sweep removes them.
func (m *Manager) List(tenantID string) ([]Instance, error) {
	all, err := store.ListAll[Instance](m.db, store.Instances, "")
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	now := m.clock.Now()
	out := []Instance{}
	for _, inst := range all {
		if (tenantID == "" || inst.TenantID == tenantID) && !Expired(inst, now) {
			out = append(out, inst)
		}
	}
	return out, nil
}
