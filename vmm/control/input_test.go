package control

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// inputRoom is how much fakeVM's UART queue holds.
const inputRoom = 8

// ConsoleInput queues what fits in inputRoom.
func (v *fakeVM) ConsoleInput(p []byte) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := min(len(p), inputRoom-len(v.input))
	v.input = append(v.input, p[:n]...)
	return n
}

func (v *fakeVM) queued() []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return bytes.Clone(v.input)
}

func TestInputReachesTheUART(t *testing.T) {
	vm := newFakeVM()
	path, _ := serve(t, vm)
	c := dial(t, path)
	ctx := context.Background()
	if n, err := c.Input(ctx, []byte("root\r")); n != 5 || err != nil {
		t.Fatalf("Input = %d, %v", n, err)
	}
	// The fake's queue holds 8: the guest is not reading, so 3 of 6 drop.
	if n, err := c.Input(ctx, []byte("\x00\xffabcd")); n != 3 || err != nil {
		t.Fatalf("Input into a nearly full queue = %d, %v; want 3", n, err)
	}
	if got := vm.queued(); string(got) != "root\r\x00\xffa" {
		t.Fatalf("UART got %q", got)
	}
}

// TestInputBounds: an empty or over-long input is refused by the client
// and, sent raw, by the server; the largest one fits in a request line.
func TestInputBounds(t *testing.T) {
	vm := newFakeVM()
	path, _ := serve(t, vm)
	c := dial(t, path)
	ctx := context.Background()
	for _, n := range []int{0, MaxInput + 1} {
		if _, err := c.Input(ctx, make([]byte, n)); err == nil {
			t.Errorf("client sent %d bytes of input", n)
		}
	}
	if _, err := c.Input(ctx, bytes.Repeat([]byte{0xff}, MaxInput)); err != nil {
		t.Fatalf("MaxInput bytes: %v", err)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, line := range []string{
		`{"id":1,"op":"input"}`,
		`{"id":2,"op":"input","data":""}`,
		`{"id":3,"op":"input","data":"not base64!"}`,
		`{"id":4,"op":"input","data":"` + strings.Repeat("QUFB", MaxInput/3+1) + `"}`,
	} {
		if resp := rawExchange(t, conn, r, line+"\n"); resp.OK {
			t.Errorf("%.60s: accepted", line)
		}
	}
}

// TestInputLimiterPaces: the bucket lets a burst of MaxInput through at
// once, then charges at InputRate; one-byte requests cost minInputCost
// each, so a stream of them cannot raise interrupts faster than
// InputRate/minInputCost a second.
func TestInputLimiterPaces(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(InputRate, MaxInput, func() time.Time { return now })
	if d := l.reserve(MaxInput); d != 0 {
		t.Fatalf("burst waited %v", d)
	}
	if d, want := l.reserve(InputRate/2), time.Second/2; d != want {
		t.Fatalf("half a second's input over an empty bucket waits %v, want %v", d, want)
	}
	now = now.Add(time.Second / 2) // the debt is paid
	var waited time.Duration
	for range InputRate / minInputCost {
		waited = l.reserve(1)
	}
	if waited != time.Second {
		t.Fatalf("a second's worth of one-byte requests ends %v ahead, want 1s", waited)
	}
	now = now.Add(time.Hour)
	if d := l.reserve(MaxInput); d != 0 {
		t.Fatalf("after an idle hour waited %v: the bucket holds more than its burst?", d)
	}
	if d := l.reserve(1); d == 0 {
		t.Fatal("an idle hour banked more than one burst")
	}
}

// TestInputWaitEndsWithContext: a paced request gives up with its context.
func TestInputWaitEndsWithContext(t *testing.T) {
	s := NewServer(newFakeVM())
	s.input.reserve(MaxInput + InputRate*10) // ten seconds of debt
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.consoleInput(ctx, []byte("x")); err == nil {
		t.Fatal("input waited past its context")
	}
}
