package jail

import (
	"time"

	"golang.org/x/sys/unix"
)

// Stage is a step of Enter and when the process finished it.
type Stage struct {
	Name string // "config", "root", "ids" or "seccomp"
	At   time.Time
}

// enterStages are the steps Enter finished, in order; written only by
// Enter, before the VMM starts any goroutine of its own.
var enterStages []Stage

func markStage(name string) { enterStages = append(enterStages, Stage{name, time.Now()}) }

// EnterStages returns the steps Enter finished and when: reading the
// config, building and entering the root, dropping the ids and
// capabilities, loading the seccomp filter. A VMM logs them so that the
// cost of its jail is known (docs/benchmarks.md).
func EnterStages() []Stage { return append([]Stage(nil), enterStages...) }

// ParentStage is a step of a VMM's start that happened in its parent,
// before the clone, at Mono nanoseconds on CLOCK_MONOTONIC (one clock for
// every process of the host; the jail makes no time namespace).
type ParentStage struct {
	Name string `json:"name"`
	Mono int64  `json:"mono_ns"`
}

// parentStages are the steps the parent passed in the child's config;
// written only by Enter.
var parentStages []ParentStage

// ParentStages returns the steps of this VMM's start that its parent
// finished before the clone: the caller's (Spec.Stages), then "leaf" (the
// cgroup leaf made and limited) and "clone" (the command about to
// start). A VMM logs them before its own, so that the time from the
// supervisor's call to the guest's first output splits from the start.
func ParentStages() []ParentStage { return append([]ParentStage(nil), parentStages...) }

// MonotonicNow reads CLOCK_MONOTONIC in nanoseconds, 0 if it cannot: the
// clock of ParentStage.
func MonotonicNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
