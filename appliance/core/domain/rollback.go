package domain

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// netBuckets hold the network state (netState reads them); only the
// domain writes them, under mu.
var netBuckets = []store.Bucket{store.Networks, store.SecurityGroups, store.PortForwards, store.PublicIPs}

// netSnapshot is the raw content of netBuckets at one moment.
type netSnapshot map[store.Bucket]map[string]json.RawMessage

// snapshotNet reads netBuckets in tx.
func snapshotNet(tx *store.Tx) (netSnapshot, error) {
	snap := netSnapshot{}
	for _, b := range netBuckets {
		snap[b] = map[string]json.RawMessage{}
		err := tx.Scan(b, "", func(key string, raw []byte) error {
			snap[b][key] = append(json.RawMessage(nil), raw...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// restore makes netBuckets hold exactly snap in tx.
func (snap netSnapshot) restore(tx *store.Tx) error {
	for _, b := range netBuckets {
		var keys []string
		if err := tx.Scan(b, "", func(key string, _ []byte) error { keys = append(keys, key); return nil }); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(b, k); err != nil {
				return err
			}
		}
		for k, v := range snap[b] {
			if err := tx.Put(b, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// undo puts the network state back to before, after the host network
// refused the change committed over it (hookErr), and hands the state
// back to the hook so that the kernel follows. A change the kernel
// refused is so never applied later (at the next change or start-up)
// behind its caller's back. The caller holds mu. It returns hookErr,
// joined with whatever failed in undoing it.
func (d *Domain) undo(tenant string, before netSnapshot, hookErr error) error {
	err := d.cfg.DB.Update(before.restore)
	if err != nil {
		return fmt.Errorf("%w; undoing the change failed too, it stays: %v", hookErr, err)
	}
	var st, stErr = d.currentState()
	if stErr == nil {
		stErr = d.cfg.OnNetworkChange(tenant, hostState(st))
	}
	if stErr != nil {
		// The store is as before; the host network converges to it at
		// its next change or start-up.
		slog.Error("host network after an undone change", "tenant", tenant, "err", stErr)
	}
	return fmt.Errorf("%w (the change was undone)", hookErr)
}

// currentState reads the network state.
func (d *Domain) currentState() (st netcfg.State, err error) {
	err = d.cfg.DB.View(func(tx *store.Tx) error {
		st, err = netState(tx)
		return err
	})
	return st, err
}
