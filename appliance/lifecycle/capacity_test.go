package lifecycle

import (
	"errors"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/types"
)

// TestCapacityCountsWhatLaunchesCount: instances that hold a VMM count,
// stopped ones do not, and what is free is exactly what a launch may
// still take.
func TestCapacityCountsWhatLaunchesCount(t *testing.T) {
	f := newFixture(t, types.Host{CPUs: 4, MemBytes: 4 * types.GiB})
	c, err := f.m.Capacity()
	if err != nil || c != (Capacity{VCPUBudget: 4, MemBytes: 4 * types.GiB}) {
		t.Fatalf("empty host: %+v, %v", c, err)
	}
	a := f.launch(t, "small", 2)
	f.apply(t, a[1].ID, Stop, "user request", Stopping)
	f.apply(t, a[1].ID, Halted, "stopped", Stopped)
	c, err = f.m.Capacity()
	if err != nil {
		t.Fatal(err)
	}
	want := Capacity{VCPUBudget: 4, MemBytes: 4 * types.GiB, UsedVCPUs: 1, UsedMemBytes: 512 * types.MiB, Instances: 1}
	if c != want {
		t.Fatalf("capacity %+v, want %+v", c, want)
	}
	if c.FreeVCPUs() != 3 || c.FreeMemBytes() != 4*types.GiB-512*types.MiB {
		t.Fatalf("free %d vCPUs, %d bytes", c.FreeVCPUs(), c.FreeMemBytes())
	}
	f.launch(t, "small", 3)
	if _, err := f.m.Launch(LaunchSpec{TenantID: "t-a", Image: "tiny", Type: "small", Count: 1}); !errors.Is(err, types.ErrInsufficientCapacity) {
		t.Fatalf("launch past the free vCPUs: %v", err)
	}
	if c, _ := f.m.Capacity(); c.FreeVCPUs() != 0 || c.Instances != 4 {
		t.Fatalf("full host: %+v", c)
	}
}

// TestCapacityNeverNegative: a host given less than its instances hold
// (a smaller budget after a restart) reports nothing free, not a wrap.
func TestCapacityNeverNegative(t *testing.T) {
	c := Capacity{VCPUBudget: 1, MemBytes: 1, UsedVCPUs: 2, UsedMemBytes: 2}
	if c.FreeVCPUs() != 0 || c.FreeMemBytes() != 0 {
		t.Fatalf("free %d, %d", c.FreeVCPUs(), c.FreeMemBytes())
	}
}
