package rack

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConsoleExpectInOrder(t *testing.T) {
	r, w := io.Pipe()
	var log strings.Builder
	c := newConsole(r, &log)
	go func() {
		io.WriteString(w, "booting\nIRONVISOR READY api=http://10.0.2.15")
		io.WriteString(w, ":8080/\nsecond READY\n")
		w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.ExpectRegexp(ctx, regexp.MustCompile(`IRONVISOR READY api=(\S+)\r?\n`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "http://10.0.2.15:8080/" {
		t.Errorf("submatch = %q", m[1])
	}
	if err := c.Expect(ctx, "READY"); err != nil {
		t.Fatal(err)
	}
	// Both READYs are consumed; a third must fail once the source ends.
	err = c.Expect(ctx, "READY")
	if !errors.Is(err, ErrExited) {
		t.Fatalf("third Expect = %v, want ErrExited", err)
	}
	if !strings.Contains(err.Error(), "second READY") {
		t.Errorf("error lacks the console tail: %v", err)
	}
	if log.String() != c.String() {
		t.Errorf("log copy %q differs from console %q", log.String(), c.String())
	}
	if err := c.NotSeen("Kernel panic"); err != nil {
		t.Error(err)
	}
	if err := c.Seen("booting"); err != nil {
		t.Errorf("Seen missed output before the cursor: %v", err)
	}
	if err := c.Seen("never"); err == nil {
		t.Error("Seen found a string that never appeared")
	}
	if err := c.NotSeen("booting"); err == nil {
		t.Error("NotSeen missed a string that appeared")
	}
}

func TestConsoleExpectDeadline(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	c := newConsole(r)
	io.WriteString(w, "partial output")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Expect(ctx, "never printed")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "partial output") {
		t.Fatalf("err = %v, want a deadline error with the console tail", err)
	}
}

// TestConsoleStall is the stall detector: a server that prints and then
// stops printing, without exiting, is given up on after the quiet period
// with ErrStalled and the console's last lines; one that keeps printing is
// not, however long it takes.
func TestConsoleStall(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	c := newConsole(r)
	io.WriteString(w, "ironvisor: step reattach\nironvisor: VMMs run /ironvisor-vmm\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.ExpectRegexpStall(ctx, regexp.MustCompile(`READY`), 300*time.Millisecond)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("ExpectRegexpStall = %v, want ErrStalled", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("stall found after %v, want about the quiet period", waited)
	}
	if !strings.Contains(err.Error(), "VMMs run /ironvisor-vmm") {
		t.Errorf("error lacks the console tail: %v", err)
	}
	if got := c.LastLine("ironvisor: step "); got != "ironvisor: step reattach" {
		t.Errorf("LastLine = %q", got)
	}

	// A server printing a line every 100 ms for a second outlives a 300 ms
	// quiet period and is ready.
	go func() {
		for i := range 10 {
			io.WriteString(w, "working "+strings.Repeat(".", i)+"\n")
			<-time.After(100 * time.Millisecond)
		}
		io.WriteString(w, "READY\n")
	}()
	if _, err := c.ExpectRegexpStall(ctx, regexp.MustCompile(`READY`), 300*time.Millisecond); err != nil {
		t.Fatalf("a printing server was given up on: %v", err)
	}
}
