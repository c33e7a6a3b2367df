// Package quota is the per-tenant limits on what a tenant may hold on the
// host (networks, security groups and their rules, tokens, instances,
// public IPs, port forwards, key pairs, volume bytes), as EC2's service
// quotas: every tenant has Defaults until the admin sets its own, and
// every creation checks its limit in the transaction that creates, so two
// requests at once cannot both take the last one.
//
// Limits bound what one tenant takes of what all share: the network
// index space of the host (netcfg.MaxNetworkIndex), its public IP pool,
// its uplink's ports, its disk. The request rate is bounded per token by
// the front end; the token quota bounds a tenant's total.
package quota

import (
	"encoding/json"
	"fmt"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Limits are one tenant's quotas. A limit of 0 allows none.
type Limits struct {
	Networks       int   `json:"networks"`
	SecurityGroups int   `json:"security_groups"`
	RulesPerGroup  int   `json:"rules_per_group"` // per direction
	Tokens         int   `json:"tokens"`
	Instances      int   `json:"instances"` // not terminated: stopped ones hold leases and volumes
	PublicIPs      int   `json:"public_ips"`
	PortForwards   int   `json:"port_forwards"`
	KeyPairs       int   `json:"key_pairs"`
	VolumeBytes    int64 `json:"volume_bytes"` // the root volumes of instances not terminated
}

// Defaults are the limits of a tenant the admin has not set. 16 networks
// a tenant leaves the index space (32767) to two thousand tenants.
var Defaults = Limits{
	Networks:       16,
	SecurityGroups: 64,
	RulesPerGroup:  60,
	Tokens:         16,
	Instances:      64,
	PublicIPs:      5,
	PortForwards:   32,
	KeyPairs:       64,
	VolumeBytes:    512 << 30,
}

// Get returns tenant's limits in tx: those the admin set, else Defaults.
func Get(tx *store.Tx, tenant string) (Limits, error) {
	l, err := store.Get[Limits](tx, store.Quotas, tenant)
	if apiv1.CodeOf(err) == apiv1.NotFound {
		return Defaults, nil
	}
	if err != nil {
		return Limits{}, fmt.Errorf("quotas of %s: %w", tenant, err)
	}
	return l, nil
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	for name, v := range map[string]int64{"networks": int64(l.Networks), "security_groups": int64(l.SecurityGroups),
		"rules_per_group": int64(l.RulesPerGroup), "tokens": int64(l.Tokens), "instances": int64(l.Instances),
		"public_ips": int64(l.PublicIPs), "port_forwards": int64(l.PortForwards), "key_pairs": int64(l.KeyPairs),
		"volume_bytes": l.VolumeBytes} {
		if v < 0 {
			return fmt.Errorf("%w: quota %s is negative", apiv1.InvalidParameter, name)
		}
	}
	return nil
}

// Put stores tenant's limits in tx.
func Put(tx *store.Tx, tenant string, l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return tx.Put(store.Quotas, tenant, l)
}

// Check returns a LimitExceeded error when used+adding passes limit.
func Check(what string, used, adding, limit int64) error {
	if used+adding > limit {
		return fmt.Errorf("%w: %s: %d in use, %d more asked, quota %d", apiv1.LimitExceeded, what, used, adding, limit)
	}
	return nil
}

// Count returns how many records of bucket b under prefix belong to
// tenant (their "tenant_id", or "tenant" field) and pass keep (nil for
// all; it gets the raw record).
func Count(tx *store.Tx, b store.Bucket, prefix, tenant string, keep func(raw []byte) bool) (int64, error) {
	var n int64
	err := tx.Scan(b, prefix, func(key string, raw []byte) error {
		var o struct {
			TenantID string `json:"tenant_id"`
			Tenant   string `json:"tenant"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("decode %s %q: %w", b, key, err)
		}
		if (o.TenantID == tenant || o.Tenant == tenant) && (keep == nil || keep(raw)) {
			n++
		}
		return nil
	})
	return n, err
}

// Read returns tenant's limits; NotFound if the tenant does not exist.
func Read(db *store.DB, tenant string) (l Limits, err error) {
	err = db.View(func(tx *store.Tx) error {
		if !tx.Has(store.Tenants, tenant) {
			return fmt.Errorf("tenant %q: %w", tenant, apiv1.NotFound)
		}
		l, err = Get(tx, tenant)
		return err
	})
	return l, err
}

// Update changes tenant's limits with change, durably, and returns them;
// NotFound if the tenant does not exist. Lowering a limit below what the
// tenant holds takes nothing away: it refuses more.
func Update(db *store.DB, tenant string, change func(Limits) Limits) (l Limits, err error) {
	err = db.Update(func(tx *store.Tx) error {
		if !tx.Has(store.Tenants, tenant) {
			return fmt.Errorf("tenant %q: %w", tenant, apiv1.NotFound)
		}
		if l, err = Get(tx, tenant); err != nil {
			return err
		}
		l = change(l)
		return Put(tx, tenant, l)
	})
	return l, err
}
