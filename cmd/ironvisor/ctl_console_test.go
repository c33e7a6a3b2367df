package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// echoConsole is a consoleAPI whose guest echoes what is typed, as a
// serial getty does.
type echoConsole struct {
	mu    sync.Mutex
	out   []byte // guarded by mu
	typed []byte // guarded by mu
	more  chan struct{}
}

func newEchoConsole(banner string) *echoConsole {
	return &echoConsole{out: []byte(banner), more: make(chan struct{}, 1)}
}

func (e *echoConsole) ConsoleWait(ctx context.Context, _ string, off int64, _ int, wait time.Duration) (apiv1.ConsoleOutput, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		e.mu.Lock()
		b := e.out[min(off, int64(len(e.out))):]
		e.mu.Unlock()
		if len(b) > 0 {
			return apiv1.ConsoleOutput{Output: string(b), NextOffset: off + int64(len(b)), Available: true}, nil
		}
		select {
		case <-e.more:
		case <-t.C:
			return apiv1.ConsoleOutput{NextOffset: off, Available: true}, nil
		case <-ctx.Done():
			return apiv1.ConsoleOutput{}, ctx.Err()
		}
	}
}

func (e *echoConsole) ConsoleWrite(_ context.Context, _ string, b []byte) (int, error) {
	e.mu.Lock()
	e.out = append(e.out, b...)
	e.typed = append(e.typed, b...)
	e.mu.Unlock()
	select {
	case e.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (e *echoConsole) got() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return string(e.typed)
}

// syncBuffer is a bytes.Buffer safe for the output goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor waits until out holds want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never showed %q", out.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEscaper(t *testing.T) {
	for _, tc := range []struct {
		in     []string
		send   string
		detach bool
	}{
		{[]string{"ls\r"}, "ls\r", false},
		{[]string{"ab\x1dq", "zz"}, "ab", true},
		{[]string{"a\x1d", "q"}, "a", true},               // split across reads
		{[]string{"\x1d\x1d", "q"}, "\x1dq", false},       // Ctrl-] twice is one, literal
		{[]string{"\x1dx\x03"}, "\x1dx\x03", false},       // not the sequence: both go
		{[]string{"\x1d", "\x1d", "\x1dq"}, "\x1d", true}, // literal, then detach
	} {
		var e escaper
		var sent strings.Builder
		detach := false
		for _, b := range tc.in {
			s, d := e.feed([]byte(b))
			sent.Write(s)
			if d {
				detach = true
				break
			}
		}
		if sent.String() != tc.send || detach != tc.detach {
			t.Errorf("%q: sent %q detach %v, want %q %v", tc.in, sent.String(), detach, tc.send, tc.detach)
		}
	}
}

// TestConsoleSessionOverPipes: history is shown, typed keys reach the
// guest and its echo comes back, Ctrl-] q ends the session without
// sending the sequence.
func TestConsoleSessionOverPipes(t *testing.T) {
	api := newEchoConsole("login: ")
	inR, inW := io.Pipe()
	var out, errw syncBuffer
	done := make(chan error, 1)
	go func() { done <- runConsole(context.Background(), api, "i-1", inR, &out, &errw) }()
	waitFor(t, &out, "login: ")
	io.WriteString(inW, "root\r")
	waitFor(t, &out, "login: root\r")
	io.WriteString(inW, "\x03\x1d")
	io.WriteString(inW, "q")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("session: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-] q did not detach")
	}
	if got := api.got(); got != "root\r\x03" {
		t.Fatalf("guest got %q", got)
	}
	inW.Close()
}

// TestConsoleEndsWithInput: the end of stdin ends the session.
func TestConsoleEndsWithInput(t *testing.T) {
	api := newEchoConsole("")
	var out, errw syncBuffer
	err := runConsole(context.Background(), api, "i-1", strings.NewReader("uptime\r"), &out, &errw)
	if err != nil || api.got() != "uptime\r" {
		t.Fatalf("session: %v, guest got %q", err, api.got())
	}
}

// failingConsole refuses keys: the instance is stopped.
type failingConsole struct{ *echoConsole }

func (failingConsole) ConsoleWrite(context.Context, string, []byte) (int, error) {
	return 0, errors.New("HTTP 409: instance is stopped")
}

// TestConsoleReportsRefusedKeys: a refusal is shown and the session goes
// on until the user detaches.
func TestConsoleReportsRefusedKeys(t *testing.T) {
	api := failingConsole{newEchoConsole("")}
	var out, errw syncBuffer
	err := runConsole(context.Background(), api, "i-1", strings.NewReader("x\x1dq"), &out, &errw)
	if err != nil || !strings.Contains(errw.String(), "keys not sent: HTTP 409") {
		t.Fatalf("session: %v, stderr %q", err, errw.String())
	}
}

// TestAttachRawTerminalRestored drives attachConsole through a real pty:
// keys arrive one by one without Enter (raw mode; a cooked terminal would
// hold them back until a newline), and the terminal is cooked again after
// the detach.
func TestAttachRawTerminalRestored(t *testing.T) {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag&unix.ICANON == 0 {
		t.Fatal("a fresh pty is not canonical")
	}
	api := newEchoConsole("")
	var out, errw syncBuffer
	x := &ctlCtx{out: &out, errw: &errw}
	done := make(chan error, 1)
	go func() { done <- x.attachConsoleWith(context.Background(), api, "i-1", tty) }()
	waitFor(t, &errw, "Ctrl-] q detaches")
	ptm.Write([]byte("y"))
	waitFor(t, &out, "y")
	ptm.Write([]byte("\x1dq"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-] q did not detach through the pty")
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Fatalf("terminal not restored: lflag %#x→%#x iflag %#x→%#x", before.Lflag, after.Lflag, before.Iflag, after.Iflag)
	}
	if api.got() != "y" {
		t.Fatalf("guest got %q", api.got())
	}
}
