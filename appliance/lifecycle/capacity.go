package lifecycle

import (
	"encoding/json"
	"fmt"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Capacity is what the instances hold of the host, counted as launches
// count it: every instance that has (or is about to have) a VMM.
type Capacity struct {
	// VCPUBudget is the vCPUs guests may have (Host.VCPUBudget).
	VCPUBudget int
	// MemBytes is the memory guests may have.
	MemBytes uint64
	// UsedVCPUs and UsedMemBytes are what the instances hold.
	UsedVCPUs    int
	UsedMemBytes uint64
	// Instances is how many instances hold capacity.
	Instances int
}

// FreeVCPUs returns the vCPUs left, never below zero.
func (c Capacity) FreeVCPUs() int { return max(c.VCPUBudget-c.UsedVCPUs, 0) }

// FreeMemBytes returns the memory left, never below zero.
func (c Capacity) FreeMemBytes() uint64 {
	if c.UsedMemBytes > c.MemBytes {
		return 0
	}
	return c.MemBytes - c.UsedMemBytes
}

// Capacity returns the host's capacity for guests and what instances hold
// of it, over every tenant: for the host's operator, never for a tenant.
func (m *Manager) Capacity() (Capacity, error) {
	c := Capacity{VCPUBudget: m.host.VCPUBudget(), MemBytes: m.host.MemBytes}
	err := m.view(func(_ *store.Tx, h heldTotals) error {
		c.UsedVCPUs, c.UsedMemBytes, c.Instances = h.VCPUs, h.Mem, h.N
		return nil
	})
	return c, err
}

// heldTotals is what the instances that hold capacity (holdsCapacity)
// hold together. The Manager keeps it up to date with every write of an
// instance, so that a launch's capacity check costs the same however many
// instances the store holds, instead of decoding all of them inside the
// write transaction.
type heldTotals struct {
	VCPUs int
	Mem   uint64
	N     int
	// tenants is each tenant's usage as committed; delta is what the
	// transaction in progress changed (nil outside one), so that a
	// transaction that fails leaves tenants as it was.
	tenants map[string]TenantUsage
	delta   map[string]TenantUsage
}

// change accounts for an instance record going from old to new: either
// may be the zero Instance (created, deleted).
func (h *heldTotals) change(old, new Instance) {
	h.changeTenant(old, -1)
	h.changeTenant(new, 1)
	if holdsCapacity(old.State) {
		h.VCPUs -= old.Type.VCPUs
		h.Mem -= old.Type.MemBytes
		h.N--
	}
	if holdsCapacity(new.State) {
		h.VCPUs += new.Type.VCPUs
		h.Mem += new.Type.MemBytes
		h.N++
	}
}

// without returns h less inst, if inst holds capacity.
func (h heldTotals) without(inst Instance) heldTotals {
	h.change(inst, Instance{})
	return h
}

// scanHeld sums what the instances in tx hold, decoding every one.
func scanHeld(tx *store.Tx) (heldTotals, error) {
	var h heldTotals
	err := tx.Scan(store.Instances, "", func(key string, raw []byte) error {
		// Decode only what the totals need.
		var inst Instance
		var rec struct {
			State    State      `json:"state"`
			Type     types.Type `json:"type"`
			TenantID string     `json:"tenant_id"`
			Image    string     `json:"image"`
			RootSize int64      `json:"root_size"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("decode instance %s: %w", key, err)
		}
		inst.State, inst.Type, inst.TenantID, inst.Image, inst.RootSize = rec.State, rec.Type, rec.TenantID, rec.Image, rec.RootSize
		h.change(Instance{}, inst)
		return nil
	})
	h.commit()
	return h, err
}

// loadHeld makes m.held known, scanning tx (a consistent view of what is
// committed) the first time. The caller holds heldMu.
func (m *Manager) loadHeld(tx *store.Tx) error {
	if m.held != nil {
		return nil
	}
	h, err := scanHeld(tx)
	if err != nil {
		return err
	}
	m.held = &h
	return nil
}

// update runs fn in a write transaction with the held totals, which fn
// changes as it writes instances (heldTotals.change). Only if the
// transaction commits do the changes become the Manager's totals, and do
// the waiters on instance id (Watch) wake; id is the instance fn may
// write, "" for none that anyone can wait on yet (a launch's new ones).
// Every transaction that writes an instance goes through update.
func (m *Manager) update(id string, fn func(*store.Tx, *heldTotals) error) error {
	m.heldMu.Lock()
	defer m.heldMu.Unlock()
	var next heldTotals
	err := m.db.Update(func(tx *store.Tx) error {
		if err := m.loadHeld(tx); err != nil {
			return err
		}
		next = *m.held
		return fn(tx, &next)
	})
	if err == nil {
		next.commit()
		*m.held = next
		m.wake(id)
	}
	return err
}

// view runs fn in a read transaction with the held totals as of that
// transaction (no instance write commits while it runs).
func (m *Manager) view(fn func(*store.Tx, heldTotals) error) error {
	m.heldMu.Lock()
	defer m.heldMu.Unlock()
	return m.db.View(func(tx *store.Tx) error {
		if err := m.loadHeld(tx); err != nil {
			return err
		}
		return fn(tx, *m.held)
	})
}
