package supervisor

import (
	"context"
	"errors"
	"maps"
	"os"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/control"
)

// countingVM is a control.VM that only answers counters.
type countingVM struct{ m map[string]uint64 }

func (v countingVM) Stop(context.Context, bool) error   { return nil }
func (v countingVM) Reboot(context.Context) error       { return nil }
func (v countingVM) Pause() error                       { return nil }
func (v countingVM) Resume() error                      { return nil }
func (v countingVM) Status() control.Status             { return control.Status{State: "running"} }
func (v countingVM) Console(int64, int) ([]byte, int64) { return nil, 0 }
func (v countingVM) Counters() map[string]uint64        { return v.m }
func (v countingVM) ConsoleInput(p []byte) int          { return len(p) }

// TestCountersThroughTheControlSocket reads a watched VMM's counters from
// its control socket, and refuses an instance it does not watch.
func TestCountersThroughTheControlSocket(t *testing.T) {
	s, _, _ := newSup(t, "", nil)
	const id = "i-count"
	if err := os.MkdirAll(s.opt.instDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := control.Listen(s.opt.socket(id))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"disk0_reads": 3, "net0_rx_packets": 5, "rng_served": 64}
	srv := control.NewServer(countingVM{want})
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	s.mu.Lock()
	s.live[id] = &instance{id: id, done: make(chan struct{})}
	s.mu.Unlock()

	got, err := s.Counters(context.Background(), id)
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("Counters = %v, %v; want %v", got, err, want)
	}
	if _, err := s.Counters(context.Background(), "i-other"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown instance: %v, want ErrUnknown", err)
	}
}
