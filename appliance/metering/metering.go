// Package metering records when each instance runs and turns those records
// into usage: running seconds split by instance type, vCPU-seconds and
// GiB-seconds, per tenant and per instance.
//
// Only running time is metered (EC2's rule): an interval opens when an
// instance enters running and closes when it leaves. Records live in the
// store's usage bucket, written in the caller's transaction so they change
// atomically with the instance state.
//
// Restarts. VMMs outlive the appliance, so an interval still open when the
// appliance restarts may belong to an instance that kept running. Each open
// interval carries a checkpoint: the latest time it is known to have been
// running. Checkpoint advances it (the appliance calls it periodically) and
// Usage advances it to now before reporting, so every reported number is
// backed by a durable checkpoint. At restart the reconciler leaves intervals
// of live instances open and closes those of dead ones at their checkpoint
// (CloseAtCheckpoint). Hence usage never goes backwards across restarts, and
// a dead instance is charged at most up to the last checkpoint.
//
// Arithmetic is exact: durations are whole milliseconds (each interval's
// clipped duration is truncated to the millisecond), memory is whole MiB,
// and the totals are int64 products of those.
package metering

import (
	"errors"
	"fmt"
	"time"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Key prefixes in the usage bucket.
const (
	openPrefix   = "open/"   // open/<instanceID>
	closedPrefix = "closed/" // closed/<instanceID>/<seq %020d>
)

// ErrAlreadyRunning is wrapped when Start finds an open interval.
var ErrAlreadyRunning = errors.New("instance already has an open running interval")

// Interval is one stretch of running of one instance with one type.
type Interval struct {
	TenantID   string    `json:"tenant_id"`
	InstanceID string    `json:"instance_id"`
	Type       string    `json:"type"`
	VCPUs      int       `json:"vcpus"`
	MemBytes   uint64    `json:"mem_bytes"`
	Start      time.Time `json:"start"`
	// End is nil while the interval is open.
	End *time.Time `json:"end,omitempty"`
	// Checkpoint is, for an open interval, the latest time the instance is
	// durably known to have been running.
	Checkpoint time.Time `json:"checkpoint"`
}

// Open reports whether the interval has not ended.
func (iv Interval) Open() bool { return iv.End == nil }

// Start opens a running interval for instanceID at at, in tx.
func Start(tx *store.Tx, tenantID, instanceID string, t types.Type, at time.Time) error {
	iv := Interval{
		TenantID: tenantID, InstanceID: instanceID,
		Type: t.Name, VCPUs: t.VCPUs, MemBytes: t.MemBytes,
		Start: at.UTC(), Checkpoint: at.UTC(),
	}
	err := tx.Create(store.Usage, openPrefix+instanceID, iv)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("meter start %s: %w", instanceID, ErrAlreadyRunning)
	}
	if err != nil {
		return fmt.Errorf("meter start %s: %w", instanceID, err)
	}
	return nil
}

// OpenInterval returns the open interval of instanceID, if any.
func OpenInterval(tx *store.Tx, instanceID string) (Interval, bool, error) {
	iv, err := store.Get[Interval](tx, store.Usage, openPrefix+instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return Interval{}, false, nil
	}
	if err != nil {
		return Interval{}, false, fmt.Errorf("meter %s: %w", instanceID, err)
	}
	return iv, true, nil
}

// Stop closes the open interval of instanceID at at (never before its
// checkpoint, so reported usage cannot shrink). With no open interval it
// does nothing.
func Stop(tx *store.Tx, instanceID string, at time.Time) error {
	return closeOpen(tx, instanceID, func(iv Interval) time.Time { return latest(at, iv.Checkpoint) })
}

// CloseAtCheckpoint closes the open interval of instanceID at its last
// checkpoint. The restart reconciler uses it for instances whose VMM did
// not survive, since nothing proves they ran after that.
func CloseAtCheckpoint(tx *store.Tx, instanceID string) error {
	return closeOpen(tx, instanceID, func(iv Interval) time.Time { return iv.Checkpoint })
}

// closeOpen moves the open interval of instanceID to a closed record that
// ends at end(interval).
func closeOpen(tx *store.Tx, instanceID string, end func(Interval) time.Time) error {
	iv, ok, err := OpenInterval(tx, instanceID)
	if err != nil || !ok {
		return err
	}
	e := latest(end(iv), iv.Start).UTC()
	iv.End = &e
	iv.Checkpoint = e
	seq, err := tx.NextSequence(store.Usage)
	if err != nil {
		return err
	}
	if err := tx.Delete(store.Usage, openPrefix+instanceID); err != nil {
		return err
	}
	key := fmt.Sprintf("%s%s/%020d", closedPrefix, instanceID, seq)
	if err := tx.Put(store.Usage, key, iv); err != nil {
		return fmt.Errorf("meter stop %s: %w", instanceID, err)
	}
	return nil
}

// Checkpoint advances the checkpoint of every open interval to at (it
// never moves one back), in tx.
func Checkpoint(tx *store.Tx, at time.Time) error {
	open, err := store.List[Interval](tx, store.Usage, openPrefix)
	if err != nil {
		return fmt.Errorf("meter checkpoint: %w", err)
	}
	for _, iv := range open {
		if !at.After(iv.Checkpoint) {
			continue
		}
		iv.Checkpoint = at.UTC()
		if err := tx.Put(store.Usage, openPrefix+iv.InstanceID, iv); err != nil {
			return fmt.Errorf("meter checkpoint: %w", err)
		}
	}
	return nil
}

// Intervals returns every interval, closed ones first then open ones, each
// group in key order.
func Intervals(tx *store.Tx) ([]Interval, error) {
	closed, err := store.List[Interval](tx, store.Usage, closedPrefix)
	if err != nil {
		return nil, fmt.Errorf("meter intervals: %w", err)
	}
	open, err := store.List[Interval](tx, store.Usage, openPrefix)
	if err != nil {
		return nil, fmt.Errorf("meter intervals: %w", err)
	}
	return append(closed, open...), nil
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
