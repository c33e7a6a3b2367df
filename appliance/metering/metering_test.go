package metering

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func closed(tenant, inst string, ty types.Type, from, to float64) Interval {
	e := at(to)
	return Interval{TenantID: tenant, InstanceID: inst, Type: ty.Name, VCPUs: ty.VCPUs, MemBytes: ty.MemBytes, Start: at(from), End: &e, Checkpoint: e}
}

func open(tenant, inst string, ty types.Type, from, cp float64) Interval {
	return Interval{TenantID: tenant, InstanceID: inst, Type: ty.Name, VCPUs: ty.VCPUs, MemBytes: ty.MemBytes, Start: at(from), Checkpoint: at(cp)}
}

func mustType(name string) types.Type {
	t, ok := types.LookupBuiltin(name)
	if !ok {
		panic(name)
	}
	return t
}

var (
	nano   = mustType("nano")   // 1 vCPU, 64 MiB
	small  = mustType("small")  // 1 vCPU, 512 MiB
	medium = mustType("medium") // 2 vCPU, 1024 MiB
)

// tot builds Totals from running ms, vCPUs and MiB.
func tot(ms int64, vcpus int64, mib int64) Totals {
	return Totals{RunningMillis: ms, VCPUMillis: ms * vcpus, MiBMillis: ms * mib}
}

func TestComputeTable(t *testing.T) {
	cases := []struct {
		name     string
		ivs      []Interval
		from, to float64
		now      float64
		want     Totals // tenant "a" total
	}{
		{"closed inside window", []Interval{closed("a", "i-1", nano, 10, 70)}, 0, 3600, 4000, tot(60000, 1, 64)},
		{"clipped both sides", []Interval{closed("a", "i-1", nano, 10, 70)}, 30, 40, 4000, tot(10000, 1, 64)},
		{"window ends at start", []Interval{closed("a", "i-1", nano, 10, 70)}, 0, 10, 4000, Totals{}},
		{"window starts at end", []Interval{closed("a", "i-1", nano, 10, 70)}, 70, 100, 4000, Totals{}},
		{"last millisecond", []Interval{closed("a", "i-1", nano, 10, 70)}, 69.999, 70, 4000, tot(1, 1, 64)},
		{"first millisecond", []Interval{closed("a", "i-1", nano, 10, 70)}, 0, 10.001, 4000, tot(1, 1, 64)},
		{"open counts to now", []Interval{open("a", "i-1", medium, 0, 5)}, 0, 3600, 90, tot(90000, 2, 1024)},
		{"open clipped at to", []Interval{open("a", "i-1", medium, 0, 5)}, 0, 60, 90, tot(60000, 2, 1024)},
		{"open, clock stepped back below checkpoint", []Interval{open("a", "i-1", small, 0, 50)}, 0, 3600, 20, tot(50000, 1, 512)},
		{"open, window in the future", []Interval{open("a", "i-1", small, 0, 0)}, 100, 200, 90, Totals{}},
		{"two instances add up", []Interval{closed("a", "i-1", nano, 0, 10), closed("a", "i-2", small, 5, 15)}, 0, 100, 100,
			Totals{RunningMillis: 20000, VCPUMillis: 20000, MiBMillis: 10000*64 + 10000*512}},
		{"other tenant excluded", []Interval{closed("b", "i-9", nano, 0, 10)}, 0, 100, 100, Totals{}},
	}
	for _, c := range cases {
		r := Compute(c.ivs, at(c.from), at(c.to), at(c.now), "a")
		var got Totals
		for _, tu := range r.Tenants {
			if tu.TenantID != "a" {
				t.Errorf("%s: tenant filter let %q through", c.name, tu.TenantID)
			}
			got = tu.Total
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestResizeSplitsByType(t *testing.T) {
	ivs := []Interval{
		closed("a", "i-1", small, 0, 100),    // 100 s as small
		closed("a", "i-1", medium, 200, 250), // resized while stopped, 50 s as medium
		closed("b", "i-2", nano, 0, 10),
	}
	r := Compute(ivs, at(0), at(1000), at(1000), "")
	if len(r.Tenants) != 2 || r.Tenants[0].TenantID != "a" || r.Tenants[1].TenantID != "b" {
		t.Fatalf("admin view tenants = %+v", r.Tenants)
	}
	a := r.Tenants[0]
	if len(a.Instances) != 1 {
		t.Fatalf("instances = %+v", a.Instances)
	}
	iu := a.Instances[0]
	if iu.ByType["small"] != tot(100000, 1, 512) || iu.ByType["medium"] != tot(50000, 2, 1024) {
		t.Fatalf("by type = %+v", iu.ByType)
	}
	want := Totals{RunningMillis: 150000, VCPUMillis: 200000, MiBMillis: 100000*512 + 50000*1024}
	if iu.Total != want || a.Total != want {
		t.Fatalf("total = %+v / %+v, want %+v", iu.Total, a.Total, want)
	}
	if iu.Total.Seconds() != 150 || iu.Total.VCPUSeconds() != 200 || iu.Total.GiBSeconds() != 100 {
		t.Fatalf("derived = %v s, %v vCPU-s, %v GiB-s", iu.Total.Seconds(), iu.Total.VCPUSeconds(), iu.Total.GiBSeconds())
	}
}

// TestWindowsAreAdditive checks that usage over [a,b) plus [b,c) equals
// usage over [a,c), and that overlapping windows count their overlap
// exactly twice, for random cut points (whole milliseconds).
func TestWindowsAreAdditive(t *testing.T) {
	ivs := []Interval{
		closed("a", "i-1", small, 3.5, 77.25), closed("a", "i-1", medium, 100, 180.5),
		open("a", "i-2", nano, 150, 150), closed("a", "i-3", medium, 0, 1000),
	}
	now := at(400)
	sum := func(from, to time.Time) Totals {
		var out Totals
		for _, tu := range Compute(ivs, from, to, now, "").Tenants {
			out.add(tu.Total)
		}
		return out
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		a := r.Int64N(500_000)
		b := a + r.Int64N(500_000)
		c := b + r.Int64N(500_000)
		ta, tb, tc := t0.Add(time.Duration(a)*time.Millisecond), t0.Add(time.Duration(b)*time.Millisecond), t0.Add(time.Duration(c)*time.Millisecond)
		left, right, whole := sum(ta, tb), sum(tb, tc), sum(ta, tc)
		left.add(right)
		if left != whole {
			t.Fatalf("[%d,%d)+[%d,%d) = %+v, [%d,%d) = %+v", a, b, b, c, left, a, c, whole)
		}
		// Overlapping windows [a,c) and [b,d): their sum counts [b,c) twice.
		d := c + r.Int64N(500_000)
		td := t0.Add(time.Duration(d) * time.Millisecond)
		two, once := sum(ta, tc), sum(tb, tc)
		two.add(sum(tb, td))
		once.add(sum(ta, td))
		if two != once {
			t.Fatalf("[%d,%d)+[%d,%d) = %+v, [%d,%d)+[%d,%d) = %+v", a, c, b, d, two, a, d, b, c, once)
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func openStore(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStartStopInStore(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer db.Close()
	clk := &fakeClock{t: at(0)}
	m := NewMeter(db, clk.Now)
	must(t, db.Update(func(tx *store.Tx) error { return Start(tx, "a", "i-1", small, at(10)) }))
	err := db.Update(func(tx *store.Tx) error { return Start(tx, "a", "i-1", small, at(11)) })
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second start: %v", err)
	}
	must(t, db.Update(func(tx *store.Tx) error { return Stop(tx, "i-1", at(40)) }))
	must(t, db.Update(func(tx *store.Tx) error { return Stop(tx, "i-1", at(50)) })) // no-op
	must(t, db.Update(func(tx *store.Tx) error { return Start(tx, "a", "i-1", medium, at(100)) }))
	clk.t = at(130)
	r, err := m.Usage(at(0), at(3600), "a")
	must(t, err)
	want := Totals{RunningMillis: 60000, VCPUMillis: 30000 + 60000, MiBMillis: 30000*512 + 30000*1024}
	if got := r.Tenants[0].Total; got != want {
		t.Fatalf("usage = %+v, want %+v", got, want)
	}
	// Stopped time accrues nothing.
	must(t, db.Update(func(tx *store.Tx) error { return Stop(tx, "i-1", at(130)) }))
	clk.t = at(5000)
	r2, err := m.Usage(at(0), at(3600), "a")
	must(t, err)
	if r2.Tenants[0].Total != want {
		t.Fatalf("usage grew while stopped: %+v", r2.Tenants[0].Total)
	}
	if _, err := m.Usage(at(10), at(10), ""); err == nil {
		t.Fatal("empty window accepted")
	}
}

// TestUsageNeverGoesBackwardsAcrossRestart reports usage of a running
// instance, "crashes" (closes the store without closing the interval),
// reopens, and reconciles both ways: VMM alive and VMM gone.
func TestUsageNeverGoesBackwardsAcrossRestart(t *testing.T) {
	for _, alive := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "s.db")
		db := openStore(t, path)
		clk := &fakeClock{t: at(0)}
		must(t, db.Update(func(tx *store.Tx) error { return Start(tx, "a", "i-1", nano, at(0)) }))
		clk.t = at(100)
		before, err := NewMeter(db, clk.Now).Usage(at(0), at(3600), "")
		must(t, err)
		db.Close() // crash: no Stop

		db = openStore(t, path)
		clk.t = at(200)
		if !alive {
			must(t, db.Update(func(tx *store.Tx) error { return CloseAtCheckpoint(tx, "i-1") }))
		}
		after, err := NewMeter(db, clk.Now).Usage(at(0), at(3600), "")
		must(t, err)
		db.Close()
		b, a := before.Tenants[0].Total.RunningMillis, after.Tenants[0].Total.RunningMillis
		want := int64(200000) // alive: it kept running while we were down
		if !alive {
			want = 100000 // dead: charged up to the last reported checkpoint
		}
		if a < b || a != want {
			t.Errorf("alive=%v: before %d ms, after %d ms, want %d", alive, b, a, want)
		}
	}
}

func TestPeriodicCheckpoint(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer db.Close()
	clk := &fakeClock{t: at(0)}
	m := NewMeter(db, clk.Now)
	must(t, db.Update(func(tx *store.Tx) error { return Start(tx, "a", "i-1", nano, at(0)) }))
	clk.t = at(30)
	must(t, m.Checkpoint())
	clk.t = at(20) // a checkpoint never moves back
	must(t, m.Checkpoint())
	must(t, db.Update(func(tx *store.Tx) error { return CloseAtCheckpoint(tx, "i-1") }))
	var ivs []Interval
	must(t, db.View(func(tx *store.Tx) error { var err error; ivs, err = Intervals(tx); return err }))
	if len(ivs) != 1 || ivs[0].Open() || !ivs[0].End.Equal(at(30)) {
		t.Fatalf("intervals = %+v", ivs)
	}
}

func TestParseWindow(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f, to, err := ParseWindow("", "", now)
	if err != nil || !f.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !to.Equal(now) {
		t.Fatalf("defaults = %v %v %v", f, to, err)
	}
	f, to, err = ParseWindow("1700000000", "2026-11-02T00:00:00+01:00", now)
	if err != nil || f.Unix() != 1700000000 || !to.Equal(time.Date(2026, 11, 1, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("explicit = %v %v %v", f, to, err)
	}
	for _, c := range [][2]string{{"10", "10"}, {"20", "10"}, {"yesterday", ""}, {"", "-99999999999999"}, {"-62135596800", "253402300799"}} {
		if _, _, err := ParseWindow(c[0], c[1], now); err == nil {
			t.Errorf("ParseWindow(%q, %q) accepted", c[0], c[1])
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	f.Add("", "")
	f.Add("2026-11-01T00:00:00Z", "1800000000")
	f.Add("-1", "9999999999999999999")
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to string) {
		a, b, err := ParseWindow(from, to, now)
		if err != nil {
			return
		}
		if !b.After(a) || b.Sub(a) > MaxWindow {
			t.Fatalf("ParseWindow(%q, %q) = [%v, %v)", from, to, a, b)
		}
		_ = Compute([]Interval{open("a", "i", nano, 0, 0)}, a, b, now, "")
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
