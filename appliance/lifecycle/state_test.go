package lifecycle

import (
	"errors"
	"testing"
)

func TestTransitionTable(t *testing.T) {
	// want[event][state] is the next state; "" means a conflict.
	want := map[Event]map[State]State{
		Start:     {Pending: Pending, Running: Running, Stopping: "", Stopped: Pending, ShuttingDown: "", Terminated: ""},
		Stop:      {Pending: Stopping, Running: Stopping, Stopping: Stopping, Stopped: Stopped, ShuttingDown: "", Terminated: ""},
		Reboot:    {Pending: "", Running: Running, Stopping: "", Stopped: "", ShuttingDown: "", Terminated: ""},
		Resize:    {Pending: "", Running: "", Stopping: "", Stopped: Stopped, ShuttingDown: "", Terminated: ""},
		Terminate: {Pending: ShuttingDown, Running: ShuttingDown, Stopping: ShuttingDown, Stopped: ShuttingDown, ShuttingDown: ShuttingDown, Terminated: Terminated},
		Booted:    {Pending: Running, Running: "", Stopping: "", Stopped: "", ShuttingDown: "", Terminated: ""},
		Halted:    {Pending: Stopped, Running: Stopped, Stopping: Stopped, Stopped: "", ShuttingDown: "", Terminated: ""},
		Crashed:   {Pending: Stopped, Running: Stopped, Stopping: Stopped, Stopped: "", ShuttingDown: "", Terminated: ""},
		Cleaned:   {Pending: "", Running: "", Stopping: "", Stopped: "", ShuttingDown: Terminated, Terminated: ""},
	}
	for e, row := range want {
		for _, s := range States {
			got, err := Next(s, e)
			w := row[s]
			if w == "" {
				var c *Conflict
				if !errors.As(err, &c) || !errors.Is(err, ErrConflict) || got != s {
					t.Errorf("Next(%s, %s) = %s, %v; want conflict", s, e, got, err)
				}
				continue
			}
			if err != nil || got != w {
				t.Errorf("Next(%s, %s) = %s, %v; want %s", s, e, got, err, w)
			}
		}
	}
	if _, err := Next(Running, "explode"); !errors.Is(err, ErrConflict) {
		t.Errorf("unknown event: %v", err)
	}
}

func TestConflictMessages(t *testing.T) {
	cases := []struct {
		s    State
		e    Event
		want string
	}{
		{Running, Resize, "resize requires state stopped, instance is running"},
		{Stopped, Reboot, "reboot requires state running, instance is stopped"},
		{Terminated, Start, "start requires state pending, running or stopped, instance is terminated"},
		{Running, "explode", `unknown event "explode"`},
	}
	for _, c := range cases {
		_, err := Next(c.s, c.e)
		if err == nil || err.Error() != c.want {
			t.Errorf("Next(%s, %s) = %v, want %q", c.s, c.e, err, c.want)
		}
	}
}

func TestParseUserEvent(t *testing.T) {
	for _, ok := range []string{"start", "stop", "reboot", "resize", "terminate"} {
		if e, err := ParseUserEvent(ok); err != nil || string(e) != ok {
			t.Errorf("ParseUserEvent(%q) = %q, %v", ok, e, err)
		}
	}
	for _, bad := range []string{"", "booted", "halted", "crashed", "cleaned", "Start", "stop ", "stop\x00"} {
		if _, err := ParseUserEvent(bad); err == nil {
			t.Errorf("ParseUserEvent(%q) accepted", bad)
		}
	}
}

func FuzzParseUserEvent(f *testing.F) {
	for _, s := range []string{"start", "booted", "", "terminate\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, err := ParseUserEvent(name)
		if err != nil {
			return
		}
		if string(e) != name || e == Booted || e == Halted || e == Crashed || e == Cleaned {
			t.Fatalf("ParseUserEvent(%q) = %q", name, e)
		}
		// Every accepted event is in the table: Next answers without panic.
		for _, s := range States {
			Next(s, e)
		}
	})
}
