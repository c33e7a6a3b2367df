package orchestrator

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// restartAll is an appliance start after every VMM died (a host reboot, or
// a kill of the appliance that took its VMMs along): Reconcile with no
// survivor, the network sync, then StartAgain, waited for; it returns
// StartAgain's counts.
func (e *env) restartAll(r *fakeRunner) (started, due int) {
	e.t.Helper()
	r.mu.Lock()
	clear(r.running)
	r.mu.Unlock()
	ctx := context.Background()
	if _, err := e.o.Reconcile(ctx, nil); err != nil {
		e.t.Fatal(err)
	}
	if err := e.o.SyncNetwork(ctx); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan [2]int, 1)
	e.o.StartAgain(ctx, func(s, d int) { done <- [2]int{s, d} })
	e.o.Wait()
	select {
	case c := <-done:
		return c[0], c[1]
	default:
		e.t.Fatal("StartAgain did not report before Wait returned")
	}
	return 0, 0
}

// TestStartAgainAfterRestart is issue 12's "instances that were running
// when the host lost power or the appliance restarted are running again
// afterwards, with the reason shown": every VMM is gone at the restart;
// the instances that were running or pending run again, with their lease's
// address and the reason, and the time they were down is not metered; one
// that was stopping and one the user had stopped stay stopped.
func TestStartAgainAfterRestart(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	img := e.image("tiny", false)
	off := e.launch(img, false)
	if _, err := e.o.Stop(context.Background(), tenant, off.ID, true); err != nil {
		t.Fatal(err)
	}
	web, plain, pend, ending := e.launch(img, true), e.launch(img, false), e.launch(img, false), e.launch(img, false)
	// As the dead appliance left them: pend's start was committed, its
	// boot was not; ending's stop was committed after its VMM ended.
	pend.State = lifecycle.Pending
	ending.State = lifecycle.Stopping
	for _, in := range []lifecycle.Instance{pend, ending} {
		err := e.db.Update(func(tx *store.Tx) error {
			if err := metering.CloseAtCheckpoint(tx, in.ID); err != nil {
				return err
			}
			return tx.Put(store.Instances, in.ID, in)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.take()
	nics.take()
	down := time.Now().UTC()

	started, due := e.restartAll(r)
	if started != 3 || due != 3 {
		t.Fatalf("StartAgain started %d of %d, want 3 of 3", started, due)
	}
	for _, in := range []lifecycle.Instance{web, plain, pend} {
		got := e.get(in.ID)
		if got.State != lifecycle.Running || got.Reason != ReasonStartedAgain {
			t.Fatalf("%s: %s (%s), want running (%s)", in.ID, got.State, got.Reason, ReasonStartedAgain)
		}
		if _, ok := r.spec(in.ID); !ok {
			t.Fatalf("%s: no VMM runs", in.ID)
		}
	}
	if got := e.get(web.ID); !slices.Equal(got.IPs, web.IPs) || len(got.IPs) != 1 {
		t.Fatalf("web: IPs %v, want its lease %v", got.IPs, web.IPs)
	}
	if c := nics.take(); !strings.Contains(c, "attach "+web.ID) {
		t.Fatalf("the host network was not attached for %s: %q", web.ID, c)
	}
	if got := e.get(ending.ID); got.State != lifecycle.Stopped || got.Reason == ReasonStartedAgain {
		t.Fatalf("the instance that was stopping: %s (%s), want stopped", got.State, got.Reason)
	}
	if got := e.get(off.ID); got.State != lifecycle.Stopped || got.Reason != "stopped by user request" {
		t.Fatalf("the instance the user stopped: %s (%s)", got.State, got.Reason)
	}
	for _, id := range []string{ending.ID, off.ID} {
		if _, ok := r.spec(id); ok {
			t.Fatalf("%s was started", id)
		}
	}
	// Metering: plain's first interval ends at its last checkpoint (its
	// launch: no housekeeping ran), and the second opens at the restart,
	// so the down time between is not billed.
	var ivs []metering.Interval
	e.db.View(func(tx *store.Tx) (err error) { ivs, err = metering.Intervals(tx); return err })
	var mine []metering.Interval
	for _, iv := range ivs {
		if iv.InstanceID == plain.ID {
			mine = append(mine, iv)
		}
	}
	if len(mine) != 2 || mine[0].Open() || !mine[1].Open() {
		t.Fatalf("intervals of %s: %+v, want one closed and one open", plain.ID, mine)
	}
	if !mine[0].End.Equal(mine[0].Checkpoint) || mine[0].End.After(down) || mine[1].Start.Before(down) {
		t.Fatalf("intervals of %s: %+v: the down time from %v is billed", plain.ID, mine, down)
	}
}

// TestStartAgainFailureIsFinal: an instance whose restart fails (its VMM
// does not start) is stopped with the reason, the others run, and the
// next appliance start does not try it again; the user can still start it.
func TestStartAgainFailureIsFinal(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	img := e.image("tiny", false)
	good, bad := e.launch(img, false), e.launch(img, false)
	r.failID = bad.ID
	if started, due := e.restartAll(r); started != 1 || due != 2 {
		t.Fatalf("StartAgain started %d of %d, want 1 of 2", started, due)
	}
	if got := e.get(good.ID); got.State != lifecycle.Running {
		t.Fatalf("good: %s (%s)", got.State, got.Reason)
	}
	got := e.get(bad.ID)
	if got.State != lifecycle.Stopped || !strings.Contains(got.Reason, "vmm start failed: jail: no such device") {
		t.Fatalf("bad: %s (%s), want stopped with the start's error", got.State, got.Reason)
	}
	r.take()
	if started, due := e.restartAll(r); started != 1 || due != 1 {
		t.Fatalf("second restart: started %d of %d, want 1 of 1 (good only)", started, due)
	}
	if c := r.take(); strings.Contains(c, bad.ID) {
		t.Fatalf("the failed instance was tried again: %q", c)
	}
	r.failID = ""
	if _, err := e.o.Start(context.Background(), tenant, bad.ID); err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	if got := e.get(bad.ID); got.State != lifecycle.Running {
		t.Fatalf("bad after the user's start: %s (%s)", got.State, got.Reason)
	}
}

// TestStartAgainChecksCapacity: a restart passes the same capacity check
// as a start; one that does not fit stays stopped with the reason.
func TestStartAgainChecksCapacity(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	img := e.image("tiny", false)
	lost := e.launch(img, false)
	r.mu.Lock()
	clear(r.running)
	r.mu.Unlock()
	ctx := context.Background()
	if _, err := e.o.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The host's four vCPUs are taken before the restart gets its turn.
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: img, Type: "nano", Count: 4}); err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	var started, due int
	e.o.StartAgain(ctx, func(s, d int) { started, due = s, d })
	e.o.Wait()
	if started != 0 || due != 1 {
		t.Fatalf("StartAgain started %d of %d, want 0 of 1", started, due)
	}
	got := e.get(lost.ID)
	if got.State != lifecycle.Stopped || !strings.HasPrefix(got.Reason, "not started again after the appliance restarted: ") ||
		!strings.Contains(got.Reason, "InsufficientCapacity") {
		t.Fatalf("lost: %s (%s), want stopped with the capacity error", got.State, got.Reason)
	}
}

// TestStartAgainLeavesUserActions: an instance the user started or
// terminated between the reconcile and the restart pass is not touched.
func TestStartAgainLeavesUserActions(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	img := e.image("tiny", false)
	started, gone, held := e.launch(img, false), e.launch(img, false), e.launch(img, false)
	r.mu.Lock()
	clear(r.running)
	r.mu.Unlock()
	ctx := context.Background()
	if _, err := e.o.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.Start(ctx, tenant, started.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.Terminate(ctx, tenant, gone.ID); err != nil {
		t.Fatal(err)
	}
	// A stop of an instance waiting to be started again keeps it stopped
	// (a regression: the stop changed nothing and the pass started it).
	if in, err := e.o.Stop(ctx, tenant, held.ID, false); err != nil || in.State != lifecycle.Stopped || in.Reason != "stopped by user request" {
		t.Fatalf("stop of a stopped instance due to start again: %s (%s) %v", in.State, in.Reason, err)
	}
	e.o.Wait()
	r.take()
	var n, due int
	e.o.StartAgain(ctx, func(s, d int) { n, due = s, d })
	e.o.Wait()
	if n != 0 || due != 0 {
		t.Fatalf("StartAgain started %d of %d, want 0 of 0", n, due)
	}
	if c := r.take(); c != "" {
		t.Fatalf("runner calls %q, want none", c)
	}
	if got := e.get(started.ID); got.State != lifecycle.Running || got.Reason != "vmm started" {
		t.Fatalf("started: %s (%s)", got.State, got.Reason)
	}
}
