package cli

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// startStages records when this VMM process reached each step of its
// start, as CLOCK_MONOTONIC nanoseconds, the clock a supervisor or a
// benchmark on the same host reads before it forks the VMM: so that the
// time from fork to the guest's first output splits into exec and Go
// runtime start, jail entry, VM build and the start of the vCPUs.
type startStages struct {
	t0     time.Time // when the package was initialised
	mono0  int64     // t0 on CLOCK_MONOTONIC; 0 where not known
	parent []string  // the parent's steps before the clone (jail.ParentStages)
	marks  []string
}

// stages is this process's start, from the cli package's initialisation
// (after exec and the Go runtime's start).
var stages = newStartStages()

func newStartStages() *startStages {
	return &startStages{t0: time.Now(), mono0: monotonicNow()}
}

// mark records that the start reached stage name now.
func (s *startStages) mark(name string) { s.markAt(name, time.Now()) }

// markAt records that the start reached stage name at t.
func (s *startStages) markAt(name string, t time.Time) {
	s.marks = append(s.marks, fmt.Sprintf("%s=%d", name, s.mono0+int64(t.Sub(s.t0))))
}

// markParent records the steps of the start that the VMM's parent
// (a jailed VMM's supervisor) finished before the clone, at their
// CLOCK_MONOTONIC times; they come first in String.
func (s *startStages) markParent(steps []jail.ParentStage) {
	for _, st := range steps {
		s.parent = append(s.parent, fmt.Sprintf("%s=%d", st.Name, st.Mono))
	}
}

// String is the line the VMM writes to its standard error once the vCPUs
// are about to run: "start stages (monotonic ns): [parent's steps] init=...
// jail=...".
func (s *startStages) String() string {
	return fmt.Sprintf("start stages (monotonic ns): %sinit=%d %s", prefixJoin(s.parent), s.mono0, strings.Join(s.marks, " "))
}

// prefixJoin joins parts with spaces and a trailing space, or returns "".
func prefixJoin(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " ") + " "
}

// monotonicNow reads CLOCK_MONOTONIC in nanoseconds, 0 if it cannot.
func monotonicNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
