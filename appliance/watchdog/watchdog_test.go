package watchdog

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeDevice returns the path of a plain file standing in for the device
// and an opener for it: pets and the magic character land in the file.
func fakeDevice(t *testing.T) (string, func(string) (*os.File, error)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func(p string) (*os.File, error) { return os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0) }
}

// written returns what was written to the fake device.
func written(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// switchCheck is a health check whose answer the test sets.
type switchCheck struct{ bad atomic.Pointer[error] }

func (c *switchCheck) check(context.Context) error {
	if e := c.bad.Load(); e != nil {
		return *e
	}
	return nil
}

func (c *switchCheck) fail(err error) { c.bad.Store(&err) }
func (c *switchCheck) heal()          { c.bad.Store(nil) }

func TestPetsOnlyWhileHealthy(t *testing.T) {
	path, open := fakeDevice(t)
	var hc switchCheck
	var logs []string
	w, err := Open(Options{Device: path, Open: open, Check: hc.check, Interval: time.Hour,
		Logf: func(f string, a ...any) { logs = append(logs, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 2 {
		if err := w.Round(); err != nil {
			t.Fatalf("healthy round: %v", err)
		}
	}
	if got := written(t, path); got != "\x00\x00" {
		t.Fatalf("after two healthy rounds the device got %q, want two pets", got)
	}
	st := w.Status()
	if !st.Healthy || st.LastPet.IsZero() || st.Error != "" {
		t.Fatalf("status after pets = %+v", st)
	}
	hc.fail(errors.New("store: database not open"))
	for range 3 {
		if err := w.Round(); err == nil || !strings.Contains(err.Error(), "database not open") {
			t.Fatalf("unhealthy round returned %v", err)
		}
	}
	if got := written(t, path); got != "\x00\x00" {
		t.Fatalf("the device was petted while unhealthy: %q", got)
	}
	if st := w.Status(); st.Healthy || !strings.Contains(st.Error, "database not open") {
		t.Fatalf("status while unhealthy = %+v", st)
	}
	hc.heal()
	if err := w.Round(); err != nil {
		t.Fatal(err)
	}
	if got := written(t, path); got != "\x00\x00\x00" {
		t.Fatalf("after recovery the device got %q, want a third pet", got)
	}
	// One line when it stops petting, one when it starts again; not one
	// per round.
	if len(logs) != 3 || !strings.Contains(logs[1], "not petting") || !strings.Contains(logs[2], "healthy again") {
		t.Fatalf("logs = %q", logs)
	}
}

func TestMagicCloseOnShutdown(t *testing.T) {
	path, open := fakeDevice(t)
	w, err := Open(Options{Device: path, Open: open, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Round(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Round(); err == nil {
		t.Fatal("a round after Close petted")
	}
	if got := written(t, path); got != "\x00V" {
		t.Fatalf("device got %q, want a pet then the magic 'V' as the last byte", got)
	}
	if st := w.Status(); !st.Closed {
		t.Fatalf("status after Close = %+v", st)
	}
}

// TestStartPetsThroughFIFO runs the real loop against a FIFO: the first
// pet comes at once, the next ones every Interval, and after Close the
// last byte is the magic one.
func TestStartPetsThroughFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(path) // blocks until the writer opens
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f) // until the writer closes
		got <- b
	}()
	pets := make(chan struct{}, 16)
	w, err := Open(Options{Device: path, Interval: 5 * time.Millisecond,
		Check: func(context.Context) error { pets <- struct{}{}; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	for range 3 {
		<-pets
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if len(b) < 3 || b[len(b)-1] != 'V' || strings.Contains(string(b[:len(b)-1]), "V") {
		t.Fatalf("FIFO got %q, want at least two pets and 'V' last", b)
	}
}

func TestTimeoutWithoutIoctls(t *testing.T) {
	path, open := fakeDevice(t)
	for _, tc := range []struct {
		asked, want time.Duration
	}{
		{0, MinTimeout},
		{30 * time.Second, 30 * time.Second},
	} {
		w, err := Open(Options{Device: path, Open: open, Timeout: tc.asked})
		if err != nil {
			t.Fatal(err)
		}
		if w.Timeout() != tc.want || w.Interval() != tc.want/3 {
			t.Errorf("asked %v: timeout %v, interval %v; want %v and a third of it", tc.asked, w.Timeout(), w.Interval(), tc.want)
		}
		w.Close()
	}
}

func TestAbsentDevice(t *testing.T) {
	_, err := Open(Options{Device: filepath.Join(t.TempDir(), "watchdog")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a missing device: %v, want os.ErrNotExist", err)
	}
}
