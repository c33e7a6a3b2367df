package lifecycle

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// BenchmarkLaunchAndBoot measures one durable launch of a nano instance
// followed by its booted transition: two fsync'd store transactions, the
// control-plane cost of a launch without the VMM.
func BenchmarkLaunchAndBoot(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	m := NewManager(db, SystemClock{}, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50})
	ctx := context.Background()
	for b.Loop() {
		in, err := m.Launch(LaunchSpec{TenantID: "t-b", Image: "tiny", Type: "nano", Count: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Apply(ctx, in[0].ID, Booted, Change{Reason: "up"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLaunchOnHost measures one durable launch of a nano instance on
// stores that already hold 0, 1000 and 10000 pending instances, a launch
// on each in turn per round, and reports each size's median and its ratio
// to the empty store's: the capacity check inside the launch's write
// transaction must not grow with the number of instances
// (build/bench/launch-scale.md).
func BenchmarkLaunchOnHost(b *testing.B) {
	sizes := []int{0, 1000, 10000}
	ms := make([]*Manager, len(sizes))
	for i, n := range sizes {
		db, err := store.Open(filepath.Join(b.TempDir(), fmt.Sprintf("s%d.db", n)))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		ms[i] = NewManager(db, SystemClock{}, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50})
		for left := n; left > 0; left -= MaxLaunchCount {
			if _, err := ms[i].Launch(LaunchSpec{TenantID: "t-b", Image: "tiny", Type: "nano", Count: min(left, MaxLaunchCount)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	took := make([][]float64, len(sizes))
	round := 0
	for b.Loop() {
		for k := range sizes {
			i := (k + round) % len(sizes) // rotate which goes first
			t0 := time.Now()
			if _, err := ms[i].Launch(LaunchSpec{TenantID: "t-b", Image: "tiny", Type: "nano", Count: 1}); err != nil {
				b.Fatal(err)
			}
			took[i] = append(took[i], float64(time.Since(t0).Microseconds())/1e3)
		}
		round++
	}
	base := medianOf(took[0])
	for i, n := range sizes {
		b.ReportMetric(medianOf(took[i]), fmt.Sprintf("ms-launch-%d", n))
		b.ReportMetric(medianOf(took[i])/base, fmt.Sprintf("ratio-launch-%d", n))
	}
}

// medianOf returns the median of v (sorted in place).
func medianOf(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
