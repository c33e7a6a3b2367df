package cli

import (
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// TestStagesLineParentFirst: the parent's steps (a jailed VMM's
// supervisor) come before the VMM's own, in the order given, so that a
// reader subtracting each time from the one before splits the start from
// the supervisor's call on.
func TestStagesLineParentFirst(t *testing.T) {
	s := &startStages{t0: testT0, mono0: 1000}
	s.markParent([]jail.ParentStage{{Name: "sup_ids", Mono: 100}, {Name: "leaf", Mono: 300}, {Name: "clone", Mono: 400}})
	s.markAt("jail", testT0.Add(500))
	s.markAt("built", testT0.Add(2000))
	want := "start stages (monotonic ns): sup_ids=100 leaf=300 clone=400 init=1000 jail=1500 built=3000"
	if got := s.String(); got != want {
		t.Errorf("String() = %q\nwant %q", got, want)
	}
	bare := &startStages{t0: testT0, mono0: 1000}
	bare.markAt("built", testT0.Add(2000))
	if got, want := bare.String(), "start stages (monotonic ns): init=1000 built=3000"; got != want {
		t.Errorf("without a parent: %q, want %q", got, want)
	}
}

// testT0 is a fixed start time for stage lines.
var testT0 = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
