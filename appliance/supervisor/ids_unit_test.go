package supervisor

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInstanceIDsAcrossForgetAndRestart checks the uid slots without a
// jail: each instance gets its own, keeps it, gets it back from a new
// supervisor on the same state (an appliance restart), and Forget frees
// it for the next instance, in this supervisor and in a new one.
func TestInstanceIDsAcrossForgetAndRestart(t *testing.T) {
	state := t.TempDir()
	opt := Options{StateDir: state, UID: 1000, GID: 2000, IDs: 3}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(s *Supervisor, id string) uint32 {
		t.Helper()
		uid, gid, err := s.InstanceIDs(id)
		if err != nil {
			t.Fatalf("InstanceIDs(%s): %v", id, err)
		}
		if gid-opt.GID != uid-opt.UID {
			t.Fatalf("%s: uid %d with gid %d", id, uid, gid)
		}
		return uid
	}
	a, b, c := ids(s, "i-a"), ids(s, "i-b"), ids(s, "i-c")
	if a != 1000 || b != 1001 || c != 1002 || ids(s, "i-b") != 1001 {
		t.Fatalf("uids %d %d %d", a, b, c)
	}
	// freed checks that the range is full for next, and that forgetting
	// held gives next held's uid.
	freed := func(s *Supervisor, held, next string, uid uint32) {
		t.Helper()
		if _, _, err := s.InstanceIDs(next); err == nil {
			t.Fatalf("%s got a uid from a full range", next)
		}
		if err := s.Forget(held); err != nil {
			t.Fatal(err)
		}
		if got := ids(s, next); got != uid {
			t.Fatalf("%s got %d, want %s's freed %d", next, got, held, uid)
		}
	}
	freed(s, "i-b", "i-d", 1001)
	// A new supervisor (the appliance restarted) knows who holds what.
	s2, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if ids(s2, "i-c") != 1002 || ids(s2, "i-d") != 1001 {
		t.Fatal("an instance lost its uid across a restart")
	}
	freed(s2, "i-a", "i-e", 1000)
}

// BenchmarkInstanceIDsOnBusyHost times a new instance's first uid (and
// its Forget) with 0, 100 and 1000 other instances known to the
// supervisor: the cost should not grow with them.
func BenchmarkInstanceIDsOnBusyHost(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			s, err := New(Options{StateDir: b.TempDir(), UID: 100000, GID: 100000})
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, _, err := s.InstanceIDs(fmt.Sprintf("i-%d", i)); err != nil {
					b.Fatal(err)
				}
			}
			// Write the setup's folders and files out first, so that
			// the timed rounds do not share the disk with their
			// write-back.
			unix.Sync()
			for b.Loop() {
				if _, _, err := s.InstanceIDs("i-new"); err != nil {
					b.Fatal(err)
				}
				if err := s.Forget("i-new"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
