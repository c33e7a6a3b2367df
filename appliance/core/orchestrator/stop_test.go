package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// timedRunner is a fakeRunner whose graceful stop takes a timeout.
type timedRunner struct{ *fakeRunner }

func (r timedRunner) StopWithin(_ context.Context, id string, graceful time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("stop %s within %v", id, graceful))
	delete(r.running, id)
	return nil
}

// TestStopWithin: a stop's own graceful timeout reaches a Runner that
// takes one; force and the default go through Stop.
func TestStopWithin(t *testing.T) {
	r := timedRunner{newFakeRunner()}
	e := newEnv(t, r, nil)
	img := e.image("tiny", true)
	for _, c := range []struct {
		force    bool
		graceful time.Duration
		want     string
	}{
		{false, 90 * time.Second, "stop %s within 1m30s"},
		{false, 0, "stop %s force=false"},
		{true, 90 * time.Second, "stop %s force=true"},
	} {
		in := e.launch(img, false)
		r.take()
		got, err := e.o.StopWithin(context.Background(), tenant, in.ID, c.force, c.graceful)
		if err != nil || got.State != lifecycle.Stopped {
			t.Fatalf("stop: %v %s", err, got.State)
		}
		if calls, want := r.take(), fmt.Sprintf(c.want, in.ID); calls != want {
			t.Errorf("force %v graceful %v: calls %q, want %q", c.force, c.graceful, calls, want)
		}
	}
	in := e.launch(img, false)
	for _, bad := range []time.Duration{-time.Second, MaxStopTimeout + time.Second} {
		if _, err := e.o.StopWithin(context.Background(), tenant, in.ID, false, bad); !errors.Is(err, apiv1.InvalidParameter) {
			t.Errorf("timeout %v: %v", bad, err)
		}
	}
}
