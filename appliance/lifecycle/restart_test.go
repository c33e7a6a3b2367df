package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// exitDuring returns an effect that behaves like the supervisor ending a
// VMM: the exit event e is reported from another goroutine, and the effect
// returns only after that report returned (OnExit runs before Stop
// returns), then fails with fail if set.
func exitDuring(t *testing.T, m *Manager, id string, e Event, fail error) func(Instance, *Instance) error {
	return func(Instance, *Instance) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got := make(chan error, 1)
		go func() {
			_, err := m.Apply(ctx, id, e, Change{Reason: "vmm exited"})
			got <- err
		}()
		if err := <-got; !errors.Is(err, ErrDeferred) {
			t.Errorf("exit event during the effect: %v, want ErrDeferred", err)
		}
		return fail
	}
}

// TestExitEventDuringEffect: the supervisor reports a VMM's exit while the
// stop that ended it still holds the instance; that report must not wait
// for the stop (it would until its deadline), and the instance settles by
// the effect's outcome.
func TestExitEventDuringEffect(t *testing.T) {
	f := newFixture(t, bigHost)
	in := f.launch(t, "nano", 3)
	ctx := context.Background()
	for _, i := range in {
		f.apply(t, i.ID, Booted, "up", Running)
	}
	start := time.Now()
	stopped, err := f.m.Apply(ctx, in[0].ID, Stop, Change{Reason: "user", Effect: exitDuring(t, f.m, in[0].ID, Halted, nil)})
	if err != nil || stopped.State != Stopping {
		t.Fatalf("stop: %+v %v", stopped, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stop took %v: the exit report waited for the stop's lock", d)
	}
	f.apply(t, in[0].ID, Halted, "stopped by user", Stopped)

	// A reboot's old VMM exits during the effect, which discards that
	// exit once the VMM is gone (as the control plane's does); the new one
	// runs.
	oldExits := func(cur Instance, next *Instance) error {
		exitDuring(t, f.m, in[1].ID, Halted, nil)(cur, next)
		f.m.DiscardExits(in[1].ID)
		return nil
	}
	if got, err := f.m.Apply(ctx, in[1].ID, Reboot, Change{Reason: "reboot", Effect: oldExits}); err != nil || got.State != Running {
		t.Fatalf("reboot: %+v %v", got, err)
	}
	if got, _ := f.m.Get(in[1].ID); got.State != Running {
		t.Fatalf("after reboot: %s (%s), want running", got.State, got.Reason)
	}

	// A failed effect: the exit it saw is applied.
	boom := fmt.Errorf("boom")
	if _, err := f.m.Apply(ctx, in[2].ID, Reboot, Change{Reason: "reboot", Effect: exitDuring(t, f.m, in[2].ID, Crashed, boom)}); !errors.Is(err, boom) {
		t.Fatalf("failed reboot: %v", err)
	}
	if got, _ := f.m.Get(in[2].ID); got.State != Stopped || got.Reason != "vmm exited" {
		t.Fatalf("after failed reboot: %s (%s), want stopped (vmm exited)", got.State, got.Reason)
	}
	// Without an effect running, exit events wait for the lock as before.
	f.apply(t, in[1].ID, Halted, "guest powered off", Stopped)
}

// TestExitEventDuringBootedEffect: the VMM a booted effect started ends
// before booted is stored; the instance runs for a moment and then
// settles as the exit says, rather than staying running without a VMM.
func TestExitEventDuringBootedEffect(t *testing.T) {
	f := newFixture(t, bigHost)
	in := f.launch(t, "nano", 1)
	got, err := f.m.Apply(context.Background(), in[0].ID, Booted, Change{Reason: "vmm started", Effect: exitDuring(t, f.m, in[0].ID, Halted, nil)})
	if err != nil || got.State != Stopped || got.Reason != "vmm exited" {
		t.Fatalf("booted: %s (%s) %v, want stopped (vmm exited)", got.State, got.Reason, err)
	}
	if cur, _ := f.m.Get(in[0].ID); cur.State != Stopped {
		t.Fatalf("stored: %s, want stopped", cur.State)
	}
}

// TestReconcileAdoptsPendingWithLiveVMM: the appliance died after starting
// a pending instance's VMM and before recording it; the VMM survived, so
// the instance runs, with the IPs the survived effect gives it (the start
// would have recorded them), and is metered from the restart.
func TestReconcileAdoptsPendingWithLiveVMM(t *testing.T) {
	f := newFixture(t, bigHost)
	in := f.launch(t, "nano", 2)
	a, b := in[0].ID, in[1].ID
	f.clk.Set(100)
	m2 := NewManager(f.db, f.clk, bigHost)
	var survivors []string
	survived := func(cur Instance, next *Instance) error {
		survivors = append(survivors, cur.ID)
		next.IPs = []string{"10.9.0.7"}
		return nil
	}
	changed, err := m2.Reconcile(context.Background(), func(i Instance) bool { return i.ID == a }, "lost", survived)
	if err != nil || len(changed) != 2 {
		t.Fatalf("reconcile: %d changed, %v; want 2", len(changed), err)
	}
	if got, _ := m2.Get(a); got.State != Running || got.Reason != SurvivedReason || !slices.Equal(got.IPs, []string{"10.9.0.7"}) {
		t.Fatalf("a: %s (%s) %v, want running with 10.9.0.7", got.State, got.Reason, got.IPs)
	}
	if !slices.Equal(survivors, []string{a}) {
		t.Fatalf("survived effect ran for %v, want only %s", survivors, a)
	}
	if got, _ := m2.Get(b); got.State != Stopped || got.Reason != "lost" {
		t.Fatalf("b: %s (%s), want stopped (lost)", got.State, got.Reason)
	}
	f.clk.Set(130)
	if u := f.usage(t, a); u.RunningMillis != 30000 {
		t.Fatalf("a metered %d ms, want 30000 (from the restart)", u.RunningMillis)
	}
	if u := f.usage(t, b); u.RunningMillis != 0 {
		t.Fatalf("b metered %d ms, want 0", u.RunningMillis)
	}
}

// TestExitEventsDuringRebootEffect: a reboot's effect stops the old VMM
// (whose exit report arrives during the effect and must be dropped) and
// starts a new one; an exit of the new VMM reported before the commit must
// end the instance, not be lost with the old one's.
func TestExitEventsDuringRebootEffect(t *testing.T) {
	for _, newDies := range []bool{false, true} {
		f := newFixture(t, bigHost)
		id := f.launch(t, "nano", 1)[0].ID
		f.apply(t, id, Booted, "up", Running)
		effect := func(cur Instance, next *Instance) error {
			exitDuring(t, f.m, id, Crashed, nil)(cur, next) // the old VMM, force-stopped
			f.m.DiscardExits(id)
			if newDies {
				exitDuring(t, f.m, id, Halted, nil)(cur, next)
			}
			return nil
		}
		got, err := f.m.Apply(context.Background(), id, Reboot, Change{Reason: "rebooted", Effect: effect})
		want := Running
		if newDies {
			want = Stopped
		}
		if err != nil || got.State != want {
			t.Fatalf("new VMM dies %v: reboot gave %s (%s) %v, want %s", newDies, got.State, got.Reason, err, want)
		}
		if cur, _ := f.m.Get(id); cur.State != want {
			t.Fatalf("new VMM dies %v: stored %s, want %s", newDies, cur.State, want)
		}
	}
}

// TestReconcileKeepsTheUsersStop: an instance that was stopping when the
// appliance died stays stopped with StopCompletedReason, not the reason
// given for lost running and pending ones (which the orchestrator starts
// again); a lost running one gets that reason.
func TestReconcileKeepsTheUsersStop(t *testing.T) {
	f := newFixture(t, bigHost)
	in := f.launch(t, "nano", 2)
	for _, i := range in {
		f.apply(t, i.ID, Booted, "up", Running)
	}
	f.apply(t, in[1].ID, Stop, "user", Stopping)
	m2 := NewManager(f.db, f.clk, bigHost)
	if _, err := m2.Reconcile(context.Background(), func(Instance) bool { return false }, "due", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := m2.Get(in[0].ID); got.State != Stopped || got.Reason != "due" {
		t.Fatalf("running: %s (%s), want stopped (due)", got.State, got.Reason)
	}
	if got, _ := m2.Get(in[1].ID); got.State != Stopped || got.Reason != StopCompletedReason {
		t.Fatalf("stopping: %s (%s), want stopped (%s)", got.State, got.Reason, StopCompletedReason)
	}
}

// TestAnnotate: the reason changes only while the instance is in the
// state with the reason the caller saw, and the generation moves with it.
func TestAnnotate(t *testing.T) {
	f := newFixture(t, bigHost)
	id := f.launch(t, "nano", 1)[0].ID
	ctx := context.Background()
	before, _ := f.m.Get(id)
	if _, ok, err := f.m.Annotate(ctx, id, Stopped, before.Reason, "note"); err != nil || ok {
		t.Fatalf("annotate in the wrong state: %v %v", ok, err)
	}
	if _, ok, err := f.m.Annotate(ctx, id, Pending, "other", "note"); err != nil || ok {
		t.Fatalf("annotate with the wrong reason: %v %v", ok, err)
	}
	got, ok, err := f.m.Annotate(ctx, id, Pending, before.Reason, "note")
	if err != nil || !ok || got.Reason != "note" || got.State != Pending || got.Generation != before.Generation+1 {
		t.Fatalf("annotate: %+v %v %v", got, ok, err)
	}
	if _, _, err := f.m.Annotate(ctx, "i-none", Pending, "", "note"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("annotate of an unknown instance: %v", err)
	}
}
