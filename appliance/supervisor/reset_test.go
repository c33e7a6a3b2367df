package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResetDuringStopEndsIt: a guest reset is the guest's own reboot
// (OnReset) unless a stop or reboot was asked of its VMM, in which case it
// ends that request (OnExit, not a crash): a systemd guest that got
// Ctrl-Alt-Del during a graceful stop reboots, and the instance must stop
// rather than boot again.
func TestResetDuringStopEndsIt(t *testing.T) {
	for _, asked := range []bool{false, true} {
		var resets []string
		s, events, state := newSup(t, t.TempDir(), func(o *Options) {
			o.OnReset = func(id, reason string) { resets = append(resets, id) }
		})
		dir := filepath.Join(state, "vmm", "i-1")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "vmm.log"), []byte("ironvisor vmm run: guest reset (ACPI reset register) (exit 10)\n"), 0o600)
		inst := &instance{id: "i-1", done: make(chan struct{})}
		inst.asked.Store(asked)
		s.finish(inst, exitStatus{known: true, code: 10})
		if !inst.ended() {
			t.Fatalf("asked %v: instance not done", asked)
		}
		if !asked {
			if len(resets) != 1 || len(events) != 0 {
				t.Fatalf("guest's own reset: OnReset %v, %d OnExit", resets, len(events))
			}
			continue
		}
		if len(resets) != 0 {
			t.Fatalf("reset during a stop went to OnReset")
		}
		e := nextExit(t, events)
		if e.id != "i-1" || e.crashed || !strings.HasPrefix(e.reason, "guest reset (ACPI reset register) (exit 10)") {
			t.Fatalf("reset during a stop: OnExit %+v", e)
		}
	}
}
