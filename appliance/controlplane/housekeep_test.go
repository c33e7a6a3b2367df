package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// TestHousekeepingGoesOnAfterAnError: a tick whose checkpoint fails (here a
// record that does not decode) is reported, and the next ticks still
// checkpoint once the cause is gone (issue 10, finding 8). Housekeeping
// used to return on its first error, leaving metering without checkpoints
// until a restart.
func TestHousekeepingGoesOnAfterAnError(t *testing.T) {
	e := newEnv(t, nil)
	old := time.Now().Add(-time.Hour).UTC()
	err := e.db.Update(func(tx *store.Tx) error {
		if err := tx.Put(store.Usage, "open/i-bad", "not an interval"); err != nil {
			return err
		}
		return tx.Put(store.Usage, "open/i-ok", metering.Interval{TenantID: "t", InstanceID: "i-ok",
			Type: "t1.small", VCPUs: 1, MemBytes: 1 << 30, Start: old, Checkpoint: old})
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	failed := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.cp.Housekeep(ctx, time.Millisecond, func(step string, err error) {
			select {
			case failed <- step + ": " + err.Error():
			default:
			}
		})
	}()
	defer func() { cancel(); <-done }()
	deadline := time.After(10 * time.Second)
	select {
	case msg := <-failed:
		t.Logf("reported: %s", msg)
	case <-deadline:
		t.Fatal("the failing checkpoint was never reported")
	}
	if err := e.db.Update(func(tx *store.Tx) error { return tx.Delete(store.Usage, "open/i-bad") }); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		iv, err := getInterval(e.db, "open/i-ok")
		if err != nil {
			t.Fatal(err)
		}
		if iv.Checkpoint.After(old) {
			return
		}
		select {
		case <-deadline:
			t.Fatal("no checkpoint after the failing tick: housekeeping stopped")
		case <-tick.C:
		}
	}
}

func getInterval(db *store.DB, key string) (iv metering.Interval, err error) {
	err = db.View(func(tx *store.Tx) error {
		iv, err = store.Get[metering.Interval](tx, store.Usage, key)
		return err
	})
	return iv, err
}
