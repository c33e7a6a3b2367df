package config

import (
	"fmt"
	"time"
)

// KeyUpdateDeadline is ironvisor.update_deadline / "update_deadline": how
// long a trial boot of a freshly installed slot has to become healthy
// (API up, store open, the instances that ran before the update running
// again) before it reboots to spend a boot try. See ParseUpdateDeadline.
const KeyUpdateDeadline = "ironvisor.update_deadline"

// The update deadline's default and bounds.
const (
	DefaultUpdateDeadline = 5 * time.Minute
	MinUpdateDeadline     = 10 * time.Second
	MaxUpdateDeadline     = time.Hour
)

// ParseUpdateDeadline reads an UpdateDeadline: "" is
// DefaultUpdateDeadline, else a Go duration from MinUpdateDeadline to
// MaxUpdateDeadline.
func ParseUpdateDeadline(s string) (time.Duration, error) {
	if s == "" {
		return DefaultUpdateDeadline, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinUpdateDeadline || d > MaxUpdateDeadline {
		return DefaultUpdateDeadline, fmt.Errorf("want a duration from %v to %v, like 5m", MinUpdateDeadline, MaxUpdateDeadline)
	}
	return d, nil
}
