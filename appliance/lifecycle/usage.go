package lifecycle

import (
	"maps"

	"github.com/ironvisor/ironvisor/appliance/store"
)

// TenantUsage is what one tenant's instances that are not terminated hold
// against its quotas (stopped ones keep their lease and root volume). The
// Manager keeps it with the capacity totals, so that a launch's quota
// check costs the same however many instances the host has, instead of
// decoding every instance of every tenant in the launch's transaction.
type TenantUsage struct {
	// Instances counts the tenant's instances that are not terminated.
	Instances int
	// RootBytes sums their root sizes (LaunchSpec.RootSize).
	RootBytes int64
	// NoRootSize counts, by image, those recorded without a root size,
	// whose volume (if any) is their image's disk: the caller sizes them.
	NoRootSize map[string]int
}

// countsForQuota reports whether inst counts against its tenant's quotas;
// the zero Instance (a record created or deleted) does not.
func countsForQuota(inst Instance) bool {
	return inst.TenantID != "" && inst.State != Terminated
}

// usage returns tenant's usage as of the transaction in progress, a copy
// the caller may change.
func (h *heldTotals) usage(tenant string) TenantUsage {
	u, ok := h.delta[tenant]
	if !ok {
		u = h.tenants[tenant]
	}
	u.NoRootSize = maps.Clone(u.NoRootSize)
	return u
}

// changeTenant adds (sign 1) or removes (sign -1) inst from its tenant's
// usage, in the transaction's delta.
func (h *heldTotals) changeTenant(inst Instance, sign int) {
	if !countsForQuota(inst) {
		return
	}
	u := h.usage(inst.TenantID)
	u.Instances += sign
	if inst.RootSize > 0 {
		u.RootBytes += int64(sign) * inst.RootSize
	} else {
		if u.NoRootSize == nil {
			u.NoRootSize = map[string]int{}
		}
		if u.NoRootSize[inst.Image] += sign; u.NoRootSize[inst.Image] == 0 {
			delete(u.NoRootSize, inst.Image)
		}
	}
	if h.delta == nil {
		h.delta = map[string]TenantUsage{}
	}
	h.delta[inst.TenantID] = u
}

// commit makes the transaction's delta part of the committed usage. The
// tenants map is shared with the Manager's totals, which commit replaces
// only after the transaction committed.
func (h *heldTotals) commit() {
	if len(h.delta) > 0 && h.tenants == nil {
		h.tenants = map[string]TenantUsage{}
	}
	for id, u := range h.delta {
		if u.Instances == 0 {
			delete(h.tenants, id)
			continue
		}
		h.tenants[id] = u
	}
	h.delta = nil
}

// Usage returns what tenant's instances hold against its quotas.
func (m *Manager) Usage(tenant string) (TenantUsage, error) {
	var u TenantUsage
	err := m.view(func(_ *store.Tx, h heldTotals) error {
		u = h.usage(tenant)
		return nil
	})
	return u, err
}
