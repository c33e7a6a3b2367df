package orchestrator

import (
	"context"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// guestReset makes instance id's fake VMM end as a guest's reboot does
// and notifies the orchestrator, then waits for what it does.
func (e *env) guestReset(r *fakeRunner, id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
	e.o.VMMReset(id, "guest reset (exit 10)")
	e.o.Wait()
}

// TestGuestRebootKeepsRunning: a reboot from inside the guest starts a
// new VMM and the instance stays running, as on EC2.
func TestGuestRebootKeepsRunning(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	in := e.launch(e.image("tiny", true), false)
	r.take()
	e.guestReset(r, in.ID)
	got := e.get(in.ID)
	if got.State != lifecycle.Running || got.Reason != "rebooted by the guest" {
		t.Fatalf("after a guest reboot: %s (%s)", got.State, got.Reason)
	}
	if calls := r.take(); calls != "start "+in.ID {
		t.Fatalf("runner calls %q, want one start and no stop", calls)
	}
	if _, ok := r.spec(in.ID); !ok {
		t.Fatal("no VMM runs after the guest reboot")
	}
}

// TestGuestRebootAfterStop: a reset reported for an instance a stop got
// to first leaves it stopped, with no VMM started.
func TestGuestRebootAfterStop(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	in := e.launch(e.image("tiny", true), false)
	if _, err := e.o.Stop(context.Background(), tenant, in.ID, false); err != nil {
		t.Fatal(err)
	}
	r.take()
	e.guestReset(r, in.ID)
	if got := e.get(in.ID); got.State != lifecycle.Stopped {
		t.Fatalf("state %s", got.State)
	}
	if calls := r.take(); calls != "" {
		t.Fatalf("runner calls %q, want none", calls)
	}
}

// TestGuestRebootRestartFails: when the new VMM cannot start, the
// instance stops with the reason instead of running without a VMM.
func TestGuestRebootRestartFails(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	in := e.launch(e.image("tiny", true), false)
	r.failID = in.ID
	e.guestReset(r, in.ID)
	got := e.get(in.ID)
	if got.State != lifecycle.Stopped || !strings.Contains(got.Reason, "restart after the guest rebooted failed") {
		t.Fatalf("state %s (%s)", got.State, got.Reason)
	}
}

// TestGuestRebootLoopStops: a guest that reboots more than maxResets
// times a minute is stopped with the reason.
func TestGuestRebootLoopStops(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	in := e.launch(e.image("tiny", true), false)
	for i := 0; i < maxResets; i++ {
		e.guestReset(r, in.ID)
		if got := e.get(in.ID); got.State != lifecycle.Running {
			t.Fatalf("reset %d: %s (%s)", i+1, got.State, got.Reason)
		}
	}
	e.guestReset(r, in.ID)
	got := e.get(in.ID)
	if got.State != lifecycle.Stopped || !strings.Contains(got.Reason, "rebooted more than") {
		t.Fatalf("after %d resets: %s (%s)", maxResets+1, got.State, got.Reason)
	}
}
