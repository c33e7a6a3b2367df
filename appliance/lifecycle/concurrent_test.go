package lifecycle

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// step is one successful, state-changing Apply as its caller saw it.
type step struct {
	event Event
	inst  Instance
}

// TestConcurrentEventsNeverInterleave fires random events at a few
// instances from many goroutines. Effects check that no two run at once on
// one instance, and afterwards the stored generations must form one valid
// chain per instance: every change saw the state the previous one left,
// nothing was lost, and the meter agrees with the final state.
func TestConcurrentEventsNeverInterleave(t *testing.T) {
	f := newFixture(t, bigHost)
	insts := f.launch(t, "nano", 3)
	medium, _ := types.LookupBuiltin("medium")
	nano, _ := types.LookupBuiltin("nano")
	events := []Event{Start, Stop, Reboot, Resize, Booted, Halted, Crashed, Start, Booted, Stop, Halted}
	inside := make([]atomic.Int32, len(insts))
	var mu sync.Mutex
	steps := map[string][]step{}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			for i := 0; i < 60; i++ {
				k := r.IntN(len(insts))
				e := events[r.IntN(len(events))]
				if i == 59 && r.IntN(4) == 0 {
					e = Terminate
				}
				ty := &nano
				if r.IntN(2) == 0 {
					ty = &medium
				}
				changed := false
				got, err := f.m.Apply(context.Background(), insts[k].ID, e, Change{Reason: string(e), Type: ty,
					Effect: func(cur Instance, next *Instance) error {
						changed = next.Generation != cur.Generation
						if n := inside[k].Add(1); n != 1 {
							t.Errorf("%d effects running at once on %s", n, insts[k].ID)
						}
						f.clk.mu.Lock()
						f.clk.t = f.clk.t.Add(time.Millisecond)
						f.clk.mu.Unlock()
						inside[k].Add(-1)
						return nil
					}})
				if err == nil && changed {
					mu.Lock()
					steps[got.ID] = append(steps[got.ID], step{e, got})
					mu.Unlock()
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	for _, inst := range insts {
		checkChain(t, f, inst.ID, steps[inst.ID])
	}
}

// checkChain verifies one instance's history of changes.
func checkChain(t *testing.T, f *fixture, id string, s []step) {
	t.Helper()
	sort.Slice(s, func(i, j int) bool { return s[i].inst.Generation < s[j].inst.Generation })
	state, runs := Pending, 0
	for i, st := range s {
		if st.inst.Generation != uint64(i+2) {
			t.Fatalf("%s: change %d has generation %d; a change was lost or duplicated", id, i, st.inst.Generation)
		}
		want, err := Next(state, st.event)
		if err != nil || want != st.inst.State {
			t.Fatalf("%s: %s from %s gave %s (want %s, %v): interleaved", id, st.event, state, st.inst.State, want, err)
		}
		if state != Running && want == Running {
			runs++
		}
		state = want
	}
	final, err := f.m.Get(id)
	if err != nil || final.State != state {
		t.Fatalf("%s: stored state %s, chain ends in %s (%v)", id, final.State, state, err)
	}
	var ivs []metering.Interval
	f.db.View(func(tx *store.Tx) error { ivs, err = metering.Intervals(tx); return err })
	n, open := 0, 0
	for _, iv := range ivs {
		if iv.InstanceID == id {
			n++
			if iv.Open() {
				open++
			}
		}
	}
	if n != runs || (open == 1) != (state == Running) || open > 1 {
		t.Fatalf("%s: %d intervals (%d open) for %d runs, final state %s", id, n, open, runs, state)
	}
	t.Logf("%s: %d changes, %d runs, final %s", id, len(s), runs, state)
}

func TestReconcileAfterRestart(t *testing.T) {
	f := newFixture(t, bigHost)
	in := f.launch(t, "nano", 4)
	a, b, c, d := in[0].ID, in[1].ID, in[2].ID, in[3].ID
	f.clk.Set(10)
	for _, id := range []string{a, b, c} {
		f.apply(t, id, Booted, "up", Running)
	}
	f.apply(t, c, Terminate, "user", ShuttingDown)
	f.apply(t, d, Crashed, "boom", Stopped)
	f.clk.Set(50)
	if err := metering.NewMeter(f.db, f.clk.Now).Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// The appliance restarts at t=100: only a's VMM survived.
	f.clk.Set(100)
	m2 := NewManager(f.db, f.clk, bigHost)
	changed, err := m2.Reconcile(context.Background(), func(i Instance) bool { return i.ID == a }, "vmm lost across restart", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 {
		t.Fatalf("changed %d instances, want 2 (b and c)", len(changed))
	}
	want := map[string]State{a: Running, b: Stopped, c: Terminated, d: Stopped}
	for id, s := range want {
		got, _ := m2.Get(id)
		if got.State != s {
			t.Errorf("%s: %s, want %s", id, got.State, s)
		}
	}
	if got, _ := m2.Get(b); got.Reason != "vmm lost across restart" {
		t.Errorf("b reason %q", got.Reason)
	}
	if got, _ := m2.Get(c); got.TerminatedAt == nil {
		t.Error("c has no termination time")
	}
	f.clk.Set(200)
	if u := f.usage(t, b); u.RunningMillis != 40000 {
		t.Errorf("dead b metered %d ms, want 40000 (up to its checkpoint)", u.RunningMillis)
	}
	if u := f.usage(t, a); u.RunningMillis != 190000 {
		t.Errorf("live a metered %d ms, want 190000", u.RunningMillis)
	}
}
