package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// TestHeldTotalsMatchAScan drives a Manager through random launches of
// three tenants, events (resizes, refused ones and starts that do not fit
// among them), reconciles and sweeps, and checks after each step that the
// totals it maintains for the capacity check and for each tenant's quotas
// are what decoding every instance gives, and what a new Manager on the
// same store starts from.
func TestHeldTotalsMatchAScan(t *testing.T) {
	f := newFixture(t, types.Host{CPUs: 6, MemBytes: 6 * types.GiB})
	r := rand.New(rand.NewPCG(1, 2))
	events := []Event{Start, Stop, Reboot, Resize, Terminate, Booted, Halted, Crashed, Cleaned}
	sizes := []string{"nano", "small", "medium"}
	tenants := []string{"t-a", "t-b", "t-c"}
	images := []string{"tiny", "disk"}
	var ids []string
	ctx := context.Background()
	for step := 0; step < 400; step++ {
		what := ""
		switch k := r.IntN(10); {
		case k == 0 || len(ids) == 0:
			typ := sizes[r.IntN(len(sizes))]
			n := 1 + r.IntN(3)
			spec := LaunchSpec{TenantID: tenants[r.IntN(len(tenants))], Image: images[r.IntN(len(images))], Type: typ, Count: n,
				RootSize: int64(r.IntN(3)) << 30}
			if r.IntN(5) == 0 {
				// Refused by the quota check: nothing may count.
				spec.Admit = func(*store.Tx, int, TenantUsage) error { return errors.New("over quota") }
			}
			insts, err := f.m.Launch(spec)
			what = fmt.Sprintf("launch %d %s for %s: %v", n, typ, spec.TenantID, err)
			for _, in := range insts {
				ids = append(ids, in.ID)
			}
		case k == 1:
			f.clk.Set(float64(step) * 1000)
			gone, err := f.m.Sweep(ctx)
			what = fmt.Sprintf("sweep: %d gone, %v", len(gone), err)
		case k == 2:
			changed, err := f.m.Reconcile(ctx, func(Instance) bool { return r.IntN(2) == 0 }, "lost", nil)
			what = fmt.Sprintf("reconcile: %d changed, %v", len(changed), err)
		default:
			id := ids[r.IntN(len(ids))]
			e := events[r.IntN(len(events))]
			ch := Change{Reason: "test"}
			if e == Resize {
				typ, ok := types.LookupBuiltin(sizes[r.IntN(len(sizes))])
				if !ok {
					t.Fatal("no builtin type")
				}
				ch.Type = &typ
			}
			_, err := f.m.Apply(ctx, id, e, ch)
			what = fmt.Sprintf("%s %s: %v", e, id, err)
		}
		got, err := f.m.Capacity()
		if err != nil {
			t.Fatalf("step %d (%s): capacity: %v", step, what, err)
		}
		var scan heldTotals
		if err := f.db.View(func(tx *store.Tx) error {
			scan, err = scanHeld(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got.UsedVCPUs != scan.VCPUs || got.UsedMemBytes != scan.Mem || got.Instances != scan.N {
			t.Fatalf("step %d (%s): maintained %+v, a scan gives %+v", step, what, got, scan)
		}
		want := scanUsage(t, f)
		for _, tn := range tenants {
			u, err := f.m.Usage(tn)
			if err != nil {
				t.Fatal(err)
			}
			if w := want[tn]; u.Instances != w.Instances || u.RootBytes != w.RootBytes || !maps.Equal(u.NoRootSize, w.NoRootSize) {
				t.Fatalf("step %d (%s): %s's usage maintained %+v, a scan gives %+v", step, what, tn, u, w)
			}
		}
	}
	fresh, err := NewManager(f.db, f.clk, types.Host{CPUs: 6, MemBytes: 6 * types.GiB}).Capacity()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.m.Capacity(); got != fresh {
		t.Fatalf("maintained %+v, a new Manager finds %+v", got, fresh)
	}
	m2 := NewManager(f.db, f.clk, types.Host{CPUs: 6, MemBytes: 6 * types.GiB})
	for _, tn := range tenants {
		a, _ := f.m.Usage(tn)
		b, err := m2.Usage(tn)
		if err != nil || a.Instances != b.Instances || a.RootBytes != b.RootBytes || !maps.Equal(a.NoRootSize, b.NoRootSize) {
			t.Fatalf("%s: maintained %+v, a new Manager finds %+v (%v)", tn, a, b, err)
		}
	}
}

// scanUsage decodes every instance and sums each tenant's quota usage the
// way the quota check did before the totals were kept.
func scanUsage(t *testing.T, f *fixture) map[string]TenantUsage {
	t.Helper()
	all, err := store.ListAll[Instance](f.db, store.Instances, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]TenantUsage{}
	for _, in := range all {
		if in.State == Terminated {
			continue
		}
		u := out[in.TenantID]
		u.Instances++
		if in.RootSize > 0 {
			u.RootBytes += in.RootSize
		} else {
			if u.NoRootSize == nil {
				u.NoRootSize = map[string]int{}
			}
			u.NoRootSize[in.Image]++
		}
		out[in.TenantID] = u
	}
	return out
}
