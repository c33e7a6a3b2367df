// Package lifecycle is the instance state machine: EC2's states, the
// events that move between them, and a Manager that applies events to
// instances in the store one at a time per instance.
//
// States and events (start, stop, reboot, resize and terminate come from
// users; booted, halted, crashed and cleaned from the supervisor when a VMM
// changes):
//
//	launch                      → pending
//	pending       --booted-->     running
//	running       --reboot-->     running
//	pending|running --stop-->     stopping
//	stopping      --halted-->     stopped      (VMM exited after a stop)
//	running       --halted-->     stopped      (the guest powered off itself)
//	pending|running|stopping --crashed--> stopped (with the reason)
//	stopped       --start-->      pending
//	stopped       --resize-->     stopped      (vertical resize)
//	any but terminated --terminate--> shutting-down
//	shutting-down --cleaned-->    terminated
//
// Repeating a stop, start or terminate that is already under way or done
// is accepted and changes nothing, as in EC2. Anything else is a Conflict
// (HTTP 409) that names the state the event needs.
package lifecycle

import (
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// State is an instance state, spelled as EC2 spells it.
type State string

// The instance states.
const (
	Pending      State = "pending"
	Running      State = "running"
	Stopping     State = "stopping"
	Stopped      State = "stopped"
	ShuttingDown State = "shutting-down"
	Terminated   State = "terminated"
)

// States lists every state in lifecycle order.
var States = []State{Pending, Running, Stopping, Stopped, ShuttingDown, Terminated}

// Event is something that happens to an instance.
type Event string

// The events. Start, Stop, Reboot, Resize and Terminate come from users;
// Booted, Halted, Crashed and Cleaned come from the supervisor.
const (
	Start     Event = "start"
	Stop      Event = "stop"
	Reboot    Event = "reboot"
	Resize    Event = "resize"
	Terminate Event = "terminate"
	Booted    Event = "booted"
	Halted    Event = "halted"
	Crashed   Event = "crashed"
	Cleaned   Event = "cleaned"
)

// table maps event × state to the next state. A missing entry is a
// conflict.
var table = map[Event]map[State]State{
	Start:     {Stopped: Pending, Pending: Pending, Running: Running},
	Stop:      {Pending: Stopping, Running: Stopping, Stopping: Stopping, Stopped: Stopped},
	Reboot:    {Running: Running},
	Resize:    {Stopped: Stopped},
	Terminate: {Pending: ShuttingDown, Running: ShuttingDown, Stopping: ShuttingDown, Stopped: ShuttingDown, ShuttingDown: ShuttingDown, Terminated: Terminated},
	Booted:    {Pending: Running},
	Halted:    {Stopping: Stopped, Running: Stopped, Pending: Stopped},
	Crashed:   {Pending: Stopped, Running: Stopped, Stopping: Stopped},
	Cleaned:   {ShuttingDown: Terminated},
}

// ErrConflict is matched (errors.Is) by every *Conflict.
var ErrConflict = apiv1.NewError(apiv1.IncorrectState, "conflict")

// Conflict says an event is not allowed in the instance's current state.
type Conflict struct {
	Event Event
	State State
	// Need lists the states in which Event is allowed.
	Need []State
	// Detail, if set, replaces the generic message (e.g. "busy").
	Detail string
}

// Error reads like "resize requires state stopped, instance is running".
func (c *Conflict) Error() string {
	if c.Detail != "" {
		return c.Detail
	}
	need := make([]string, len(c.Need))
	for i, s := range c.Need {
		need[i] = string(s)
	}
	switch len(need) {
	case 0:
		return fmt.Sprintf("unknown event %q", c.Event)
	case 1:
		return fmt.Sprintf("%s requires state %s, instance is %s", c.Event, need[0], c.State)
	}
	return fmt.Sprintf("%s requires state %s or %s, instance is %s",
		c.Event, strings.Join(need[:len(need)-1], ", "), need[len(need)-1], c.State)
}

// Is makes errors.Is(err, ErrConflict) true.
func (c *Conflict) Is(target error) bool {
	return target == ErrConflict || target == apiv1.IncorrectState
}

// APICode makes a Conflict an IncorrectState error.
func (c *Conflict) APICode() apiv1.Code { return apiv1.IncorrectState }

// Next returns the state event e leads to from s, or a *Conflict.
func Next(s State, e Event) (State, error) {
	row, ok := table[e]
	if !ok {
		return s, &Conflict{Event: e, State: s}
	}
	if to, ok := row[s]; ok {
		return to, nil
	}
	c := &Conflict{Event: e, State: s}
	for _, st := range States {
		if _, ok := row[st]; ok {
			c.Need = append(c.Need, st)
		}
	}
	return s, c
}

// holdsCapacity reports whether an instance in s has (or is about to
// have) a VMM using host vCPUs and memory.
func holdsCapacity(s State) bool {
	return s == Pending || s == Running || s == Stopping || s == ShuttingDown
}

// MaxEventLen bounds the event names ParseUserEvent looks at.
const MaxEventLen = 32

// ParseUserEvent maps an untrusted action name from a request ("start",
// "stop", "reboot", "resize", "terminate") to its Event. Supervisor events
// (booted, halted, crashed, cleaned) are refused, so a client can never
// claim a VMM state change.
func ParseUserEvent(name string) (Event, error) {
	if len(name) > MaxEventLen {
		return "", fmt.Errorf("unknown action: name too long (%d bytes)", len(name))
	}
	switch e := Event(name); e {
	case Start, Stop, Reboot, Resize, Terminate:
		return e, nil
	}
	return "", fmt.Errorf("unknown action %q: want start, stop, reboot, resize or terminate", name)
}
