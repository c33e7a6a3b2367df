package jail

import "time"

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
