package lifecycle

import (
	"github.com/ironvisor/ironvisor/appliance/store"
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
	err := m.db.View(func(tx *store.Tx) error {
		held, err := holding(tx, "")
		for _, t := range held {
			c.UsedVCPUs += t.VCPUs
			c.UsedMemBytes += t.MemBytes
		}
		c.Instances = len(held)
		return err
	})
	return c, err
}
