package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/ring"
)

// fakeVM is test scaffolding for the protocol: a VM whose state is a
// string and whose console is a real ring.
type fakeVM struct {
	console *ring.Buffer
	// mu guards the fields below.
	mu        sync.Mutex
	state     string
	graceful  bool   // the guest honours a graceful stop
	stopCalls []bool // force argument of each Stop
	panicOn   string
	stopped   chan struct{} // closed by the first successful Stop
	entered   chan bool     // if not nil, receives each Stop's force argument
	input     []byte        // what ConsoleInput queued; at most inputRoom
	reboots   int           // Reboot calls
}

func newFakeVM() *fakeVM {
	return &fakeVM{console: ring.New(64), state: "running", graceful: true, stopped: make(chan struct{})}
}

func (v *fakeVM) Stop(ctx context.Context, force bool) error {
	v.mu.Lock()
	v.stopCalls = append(v.stopCalls, force)
	graceful, entered := v.graceful, v.entered
	v.mu.Unlock()
	if entered != nil {
		entered <- force
	}
	if !force && !graceful {
		<-ctx.Done()
		return ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state != "stopped" {
		v.state = "stopped"
		close(v.stopped)
	}
	return nil
}

// Reboot records a reboot request (as a Stop with force false) and ends
// the VM if the guest honours it, as a guest that resets does.
func (v *fakeVM) Reboot(ctx context.Context) error {
	v.mu.Lock()
	v.reboots++
	v.mu.Unlock()
	return v.Stop(ctx, false)
}

// set runs f with v locked.
func (v *fakeVM) set(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f()
}

// calls returns the force argument of each Stop so far.
func (v *fakeVM) calls() []bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]bool(nil), v.stopCalls...)
}

func (v *fakeVM) setState(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state = s
}

func (v *fakeVM) transition(from, to string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state != from {
		return fmt.Errorf("VM is %s, not %s", v.state, from)
	}
	v.state = to
	return nil
}

func (v *fakeVM) Pause() error  { return v.transition("running", "paused") }
func (v *fakeVM) Resume() error { return v.transition("paused", "running") }

func (v *fakeVM) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.panicOn == "status" {
		panic("status exploded")
	}
	return Status{State: v.state, Uptime: time.Second, VCPUs: 2, MemoryBytes: 256 << 20}
}

func (v *fakeVM) Console(off int64, max int) ([]byte, int64) { return v.console.Read(off, max) }

func (v *fakeVM) Counters() map[string]uint64 {
	return map[string]uint64{"blk0.read_bytes": 4096, "net0.tx_packets": 3}
}

// serve starts a server for vm on a fresh socket and returns its path.
func serve(t *testing.T, vm VM) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(vm)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, s
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStatusPauseResume(t *testing.T) {
	vm := newFakeVM()
	path, _ := serve(t, vm)
	c := dial(t, path)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.State != "running" || st.VCPUs != 2 || st.MemoryBytes != 256<<20 || st.Uptime != time.Second {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := c.Pause(ctx); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	var cerr *Error
	if err := c.Pause(ctx); !errors.As(err, &cerr) || !strings.Contains(cerr.Msg, "paused") {
		t.Fatalf("second Pause = %v, want the VM's error", err)
	}
	if st, _ := c.Status(ctx); st.State != "paused" {
		t.Fatalf("state after Pause = %q", st.State)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := c.Resume(ctx); err == nil {
		t.Fatal("Resume of a running VM succeeded")
	}
}

func TestStopGraceful(t *testing.T) {
	vm := newFakeVM()
	path, _ := serve(t, vm)
	forced, err := dial(t, path).Stop(context.Background(), time.Second)
	if err != nil || forced {
		t.Fatalf("Stop = forced %v, %v; want graceful", forced, err)
	}
	if !slices.Equal(vm.calls(), []bool{false}) {
		t.Fatalf("Stop calls %v, want [false]", vm.calls())
	}
}

func TestStopForcedAfterTimeout(t *testing.T) {
	vm := newFakeVM()
	vm.set(func() { vm.graceful = false })
	path, _ := serve(t, vm)
	start := time.Now()
	forced, err := dial(t, path).Stop(context.Background(), 50*time.Millisecond)
	if err != nil || !forced {
		t.Fatalf("Stop = forced %v, %v; want forced", forced, err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("forced after %v, before the 50ms graceful timeout", d)
	}
	if !slices.Equal(vm.calls(), []bool{false, true}) {
		t.Fatalf("Stop calls %v, want [false true]", vm.calls())
	}
}

// TestReboot: a reboot asks the guest (no force) and, if the guest does
// not end the VM within the timeout, stops it by force; a bad timeout is
// refused.
func TestReboot(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		vm := newFakeVM()
		vm.set(func() { vm.graceful = graceful })
		path, _ := serve(t, vm)
		c := dial(t, path)
		forced, err := c.Reboot(context.Background(), 50*time.Millisecond)
		want := []bool{false}
		if !graceful {
			want = []bool{false, true}
		}
		if err != nil || forced == graceful || !slices.Equal(vm.calls(), want) || vm.reboots != 1 {
			t.Fatalf("guest honours it %v: Reboot = forced %v, %v; VM calls %v, reboots %d", graceful, forced, err, vm.calls(), vm.reboots)
		}
	}
	if _, err := DecodeRequest([]byte(`{"id":1,"op":"reboot","timeout_ms":-1}`)); err == nil {
		t.Fatal("reboot with a negative timeout accepted")
	}
}

func TestCloseAnswersRequestInFlight(t *testing.T) {
	vm := newFakeVM()
	entered := make(chan bool, 2)
	vm.set(func() { vm.graceful, vm.entered = false, entered })
	path, s := serve(t, vm)
	c := dial(t, path)
	type result struct {
		forced bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		forced, err := c.Stop(context.Background(), 100*time.Millisecond)
		done <- result{forced, err}
	}()
	<-entered // the graceful stop is in progress
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	r := <-done
	if r.err != nil || !r.forced {
		t.Fatalf("Stop during server Close = forced %v, %v; want an answer (forced)", r.forced, r.err)
	}
	<-closed
}

func TestKill(t *testing.T) {
	vm := newFakeVM()
	vm.set(func() { vm.graceful = false })
	path, _ := serve(t, vm)
	if err := dial(t, path).Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vm.calls(), []bool{true}) {
		t.Fatalf("Stop calls %v, want [true]", vm.calls())
	}
}

func TestConsoleStreaming(t *testing.T) {
	vm := newFakeVM()
	var stream bytes.Buffer
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&stream, "line %d\n", i) // 70 bytes into a 64-byte ring
	}
	vm.console.Write(stream.Bytes())
	path, _ := serve(t, vm)
	c := dial(t, path)
	ctx := context.Background()
	data, next, err := c.Console(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if gap := next - int64(len(data)); gap != 6 || len(data) != 10 {
		t.Fatalf("first read: %d bytes ending at %d, want 10 bytes from 6 (6 lost)", len(data), next)
	}
	got := append([]byte(nil), data...)
	for next < vm.console.End() {
		data, next, err = c.Console(ctx, next, 7)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, stream.Bytes()[6:]) {
		t.Fatalf("streamed %q, want %q", got, stream.Bytes()[6:])
	}
	data, next, err = c.Console(ctx, next, 0)
	if err != nil || len(data) != 0 || next != 70 {
		t.Fatalf("read at end = %q, %d, %v", data, next, err)
	}
	if _, _, err := c.Console(ctx, 0, MaxConsoleRead+1); err == nil {
		t.Fatal("console read above MaxConsoleRead accepted")
	}
}

func TestCounters(t *testing.T) {
	path, _ := serve(t, newFakeVM())
	got, err := dial(t, path).Counters(context.Background())
	if err != nil || got["blk0.read_bytes"] != 4096 || got["net0.tx_packets"] != 3 || len(got) != 2 {
		t.Fatalf("Counters = %v, %v", got, err)
	}
}

// rawExchange writes line and reads one response line on a raw connection.
func rawExchange(t *testing.T, conn net.Conn, r *bufio.Reader, line string) Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, line); err != nil {
		t.Fatal(err)
	}
	reply, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reply to %q: %v", line, err)
	}
	var resp Response
	if err := json.Unmarshal(reply, &resp); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return resp
}

func TestHostileInput(t *testing.T) {
	vm := newFakeVM()
	path, _ := serve(t, vm)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	bad := map[string]string{
		"garbage\n":                                   "bad request",
		"\n":                                          "bad request",
		`{"id":3,"op":"format-disk"}` + "\n":          "unknown op",
		`{"id":4,"op":"status","evil":1}` + "\n":      "unknown field",
		`{"id":5,"op":"status"}{"id":6}` + "\n":       "trailing",
		`{"id":7,"op":"stop","timeout_ms":-1}` + "\n": "timeout_ms",
		`{"id":8,"op":"console","offset":-5}` + "\n":  "offset",
	}
	for line, want := range bad {
		resp := rawExchange(t, conn, r, line)
		if resp.OK || !strings.Contains(resp.Error, want) {
			t.Errorf("%q: reply %+v, want an error about %q", line, resp, want)
		}
	}
	vm.set(func() { vm.panicOn = "status" })
	if resp := rawExchange(t, conn, r, `{"id":9,"op":"status"}`+"\n"); resp.OK || resp.ID != 9 || !strings.Contains(resp.Error, "internal error") {
		t.Errorf("panicking VM: reply %+v, want an internal error", resp)
	}
	vm.set(func() { vm.panicOn = "" })
	if resp := rawExchange(t, conn, r, `{"id":10,"op":"status"}`+"\n"); !resp.OK || resp.ID != 10 {
		t.Fatalf("connection unusable after bad requests: %+v", resp)
	}
	long := `{"id":11,"op":"status","pad":"` + strings.Repeat("x", MaxLine) + "\"}\n"
	if resp := rawExchange(t, conn, r, long); resp.OK || !strings.Contains(resp.Error, "longer than") {
		t.Errorf("over-long line: reply %+v", resp)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after an over-long line")
	}
}

func TestClientDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mute.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // a server that reads and never answers
		c, err := l.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Status against a mute server = %v, want deadline exceeded", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrBroken) {
		t.Fatalf("call after a failed exchange = %v, want ErrBroken", err)
	}
}

func TestConnectionLimit(t *testing.T) {
	path, _ := serve(t, newFakeVM())
	for i := 0; i < MaxConns; i++ {
		if _, err := dial(t, path).Status(context.Background()); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	if _, err := dial(t, path).Status(context.Background()); err == nil {
		t.Fatalf("connection %d served, want it closed", MaxConns+1)
	}
}

func TestServerClose(t *testing.T) {
	path, s := serve(t, newFakeVM())
	c := dial(t, path)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("call after server Close succeeded")
	}
	if _, err := Dial(path); err == nil {
		t.Fatal("dial after server Close succeeded")
	}
}

// FuzzDecodeRequest feeds arbitrary lines to the decoder and the handler:
// neither may panic, an accepted request must respect the limits, and every
// reply is exactly one of OK or an error.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"op":"status"}`, `{"id":2,"op":"stop","timeout_ms":1}`, `{"op":"stop","force":true}`,
		`{"id":3,"op":"console","offset":3,"max":5}`, `{"op":"counters"}`, `{"op":"pause"}`,
		`{"id":18446744073709551615,"op":"resume"}`, `{"op":"console","max":1e99}`, `[]`, `null`, "",
	} {
		f.Add([]byte(seed))
	}
	vm := newFakeVM()
	vm.console.Write([]byte("console bytes"))
	s := NewServer(vm)
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err == nil {
			if req.Offset < 0 || req.Max < 0 || req.Max > MaxConsoleRead || req.TimeoutMS < 0 || req.TimeoutMS > MaxStopTimeout.Milliseconds() {
				t.Fatalf("accepted out-of-limit request %+v", req)
			}
			if req.Op == OpStop && !req.Force && req.TimeoutMS > 10 {
				return // a graceful stop of the fake VM is instant, but keep the fuzzer fast
			}
		}
		resp := s.Handle(context.Background(), line)
		if resp.OK == (resp.Error != "") {
			t.Fatalf("reply %+v is neither clearly ok nor an error", resp)
		}
		if resp.Console != nil && len(resp.Console.Data) > MaxConsoleRead {
			t.Fatalf("console reply of %d bytes", len(resp.Console.Data))
		}
		vm.setState("running")
	})
}
