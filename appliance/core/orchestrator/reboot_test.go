package orchestrator

import (
	"context"
	"fmt"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// rebootingRunner is a fakeRunner that is also a Rebooter: its Reboot
// ends the fake VMM as a guest that rebooted in order would.
type rebootingRunner struct{ *fakeRunner }

func (r rebootingRunner) Reboot(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "reboot "+id)
	delete(r.running, id)
	return nil
}

// TestUserRebootIsGraceful: a reboot by the user asks a Rebooter's guest
// to reboot (no forced stop) and starts a new VMM; a Runner that cannot
// reboot a guest gets a forced stop instead. Either way the instance
// stays running.
func TestUserRebootIsGraceful(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		fr := newFakeRunner()
		var r Runner = fr
		if graceful {
			r = rebootingRunner{fr}
		}
		e := newEnv(t, r, nil)
		in := e.launch(e.image("tiny", true), false)
		fr.take()
		got, err := e.o.Reboot(context.Background(), tenant, in.ID)
		if err != nil || got.State != lifecycle.Running {
			t.Fatalf("graceful %v: Reboot = %s, %v", graceful, got.State, err)
		}
		want := fmt.Sprintf("stop %s force=true; start %s", in.ID, in.ID)
		if graceful {
			want = fmt.Sprintf("reboot %s; start %s", in.ID, in.ID)
		}
		if calls := fr.take(); calls != want {
			t.Fatalf("graceful %v: runner calls %q, want %q", graceful, calls, want)
		}
		if _, ok := fr.spec(in.ID); !ok {
			t.Fatalf("graceful %v: no VMM runs after the reboot", graceful)
		}
	}
}
