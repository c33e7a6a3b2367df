package types

import (
	"fmt"
	"math"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Host is what the host can give to guests.
type Host struct {
	// CPUs is the number of host CPUs available to guests.
	CPUs int
	// MemBytes is the memory available to guests (host RAM minus what the
	// appliance keeps for itself). Memory is never overcommitted.
	MemBytes uint64
	// Overcommit multiplies CPUs to give the vCPU budget; 0 means 1.0.
	Overcommit float64
}

// VCPUBudget returns floor(CPUs × Overcommit), with Overcommit 0 read as 1.
func (h Host) VCPUBudget() int {
	oc := h.Overcommit
	if oc <= 0 || math.IsNaN(oc) {
		oc = 1
	}
	b := math.Floor(float64(h.CPUs) * oc)
	if b > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(b)
}

// ErrInsufficientCapacity is matched (errors.Is) by every
// *InsufficientCapacity.
var ErrInsufficientCapacity = apiv1.NewError(apiv1.InsufficientCapacity, "InsufficientCapacity")

// InsufficientCapacity says a launch does not fit on the host, and why.
type InsufficientCapacity struct {
	Want  Type
	Count int
	// Resource is "vcpu" or "memory": the first one that ran out.
	Resource string
	// NeedVCPUs/NeedMem is what the launch asks for in total; UsedVCPUs and
	// UsedMem are already taken by running instances.
	NeedVCPUs, UsedVCPUs, BudgetVCPUs int
	NeedMem, UsedMem, HostMem         uint64
}

// Error renders a message a user can act on.
func (e *InsufficientCapacity) Error() string {
	if e.Resource == "vcpu" {
		unit := "vCPUs"
		if e.NeedVCPUs == 1 {
			unit = "vCPU"
		}
		return fmt.Sprintf("InsufficientCapacity: %d × %s needs %d %s, but only %d of %d are free (%d in use)",
			e.Count, e.Want, e.NeedVCPUs, unit, max(e.BudgetVCPUs-e.UsedVCPUs, 0), e.BudgetVCPUs, e.UsedVCPUs)
	}
	free := uint64(0)
	if e.HostMem > e.UsedMem {
		free = e.HostMem - e.UsedMem
	}
	return fmt.Sprintf("InsufficientCapacity: %d × %s needs %s of memory, but only %s of %s is free (%s in use)",
		e.Count, e.Want, FormatBytes(e.NeedMem), FormatBytes(free), FormatBytes(e.HostMem), FormatBytes(e.UsedMem))
}

// Is makes errors.Is(err, ErrInsufficientCapacity) true.
func (e *InsufficientCapacity) Is(target error) bool {
	return target == ErrInsufficientCapacity || target == apiv1.InsufficientCapacity
}

// APICode makes an InsufficientCapacity error of the kind of its name.
func (e *InsufficientCapacity) APICode() apiv1.Code { return apiv1.InsufficientCapacity }

// Fits checks whether count more instances of want fit on host next to the
// running ones. It returns nil or an *InsufficientCapacity; a count below 1
// or an invalid type is an ErrInvalid error.
func Fits(host Host, running []Type, want Type, count int) error {
	var usedCPU int
	var usedMem uint64
	for _, t := range running {
		usedCPU += t.VCPUs
		usedMem += t.MemBytes
	}
	return FitsUsed(host, usedCPU, usedMem, want, count)
}

// FitsUsed is Fits with the running instances' vCPUs and memory already
// summed (a maintained total, so that a launch costs the same on a host of
// any size).
func FitsUsed(host Host, usedCPU int, usedMem uint64, want Type, count int) error {
	if count < 1 {
		return fmt.Errorf("%w: count %d must be at least 1", ErrInvalid, count)
	}
	if err := Validate(want); err != nil {
		return err
	}
	e := &InsufficientCapacity{
		Want: want, Count: count,
		UsedVCPUs: usedCPU, BudgetVCPUs: host.VCPUBudget(),
		UsedMem: usedMem, HostMem: host.MemBytes,
	}
	// Validate bounds VCPUs and MemBytes, so only count can overflow the
	// products; compare in a way that cannot.
	if count > (e.BudgetVCPUs-usedCPU)/want.VCPUs || usedCPU > e.BudgetVCPUs {
		e.Resource = "vcpu"
	} else if usedMem > host.MemBytes || uint64(count) > (host.MemBytes-usedMem)/want.MemBytes {
		e.Resource = "memory"
	} else {
		return nil
	}
	e.NeedVCPUs = satMul(want.VCPUs, count)
	e.NeedMem = satMulU64(want.MemBytes, uint64(count))
	return e
}

// satMul multiplies two non-negative ints, saturating at MaxInt.
func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// satMulU64 multiplies two uint64s, saturating at MaxUint64.
func satMulU64(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// Available returns the types in all that fit on h when it runs nothing
// else: the sizes this host can offer at all.
func Available(all []Type, h Host) []Type {
	out := []Type{}
	for _, t := range all {
		if Fits(h, nil, t, 1) == nil {
			out = append(out, t)
		}
	}
	return out
}
