package rack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ErrExited is returned by the Expect methods when the console's source
// (the QEMU process) has ended before the wanted output appeared.
var ErrExited = errors.New("console closed: server exited")

// ErrStalled is returned by ExpectRegexpStall when the console printed
// nothing for the quiet period: the server hangs.
var ErrStalled = errors.New("console stalled: no output")

// Console collects a server's serial console output. It copies everything
// to a log writer and lets callers wait for strings with a deadline. It is
// safe for concurrent use.
type Console struct {
	mu sync.Mutex
	// buf holds all output so far. Guarded by mu.
	buf bytes.Buffer
	// cursor is where the next Expect starts searching. Guarded by mu.
	cursor int
	// closed is set once the source hits EOF. Guarded by mu.
	closed bool
	// changed is closed and replaced on every write or close. Guarded by mu.
	changed chan struct{}
	// last is when output last arrived (or the console was made). Guarded
	// by mu.
	last time.Time
}

// newConsole returns a Console that copies src into itself and into each
// of sinks (nil sinks are skipped) until src ends.
func newConsole(src io.Reader, sinks ...io.Writer) *Console {
	c := &Console{changed: make(chan struct{}), last: time.Now()}
	var ws []io.Writer
	for _, s := range sinks {
		if s != nil {
			ws = append(ws, s)
		}
	}
	go c.pump(src, io.MultiWriter(ws...))
	return c
}

// pump copies src until EOF or error.
func (c *Console) pump(src io.Reader, sink io.Writer) {
	b := make([]byte, 4096)
	for {
		n, err := src.Read(b)
		if n > 0 {
			sink.Write(b[:n]) // A failing log must not stop the console.
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.last = time.Now()
			c.notifyLocked()
			c.mu.Unlock()
		}
		if err != nil {
			c.mu.Lock()
			c.closed = true
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
	}
}

// notifyLocked wakes every waiter. c.mu must be held.
func (c *Console) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Expect waits until s appears in the output after the end of the previous
// match, and moves past it. It fails when ctx ends or the server exits
// first; the error holds the last lines of the console.
func (c *Console) Expect(ctx context.Context, s string) error {
	_, err := c.wait(ctx, fmt.Sprintf("%q", s), func(b []byte) (int, []string) {
		i := bytes.Index(b, []byte(s))
		if i < 0 {
			return -1, nil
		}
		return i + len(s), []string{s}
	})
	return err
}

// ExpectRegexp waits until re matches the output after the end of the
// previous match, moves past it, and returns the match and its submatches.
// Output arrives in pieces, so a pattern must say where its capture ends:
// `READY (\S+)` can match a half-printed word, `READY (\S+)\r?\n` cannot.
func (c *Console) ExpectRegexp(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	return c.wait(ctx, "/"+re.String()+"/", func(b []byte) (int, []string) {
		loc := re.FindSubmatchIndex(b)
		if loc == nil {
			return -1, nil
		}
		m := make([]string, 0, len(loc)/2)
		for i := 0; i < len(loc); i += 2 {
			if loc[i] < 0 {
				m = append(m, "")
				continue
			}
			m = append(m, string(b[loc[i]:loc[i+1]]))
		}
		return loc[1], m
	})
}

// ExpectRegexpStall is ExpectRegexp that also gives up, with ErrStalled,
// once the console has printed nothing for quiet: a server that stopped
// making progress is found in that time, not at ctx's deadline.
func (c *Console) ExpectRegexpStall(ctx context.Context, re *regexp.Regexp, quiet time.Duration) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTimer(quiet)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			idle := c.Idle()
			if idle >= quiet {
				cancel(fmt.Errorf("%w for %v", ErrStalled, idle.Round(time.Second)))
				return
			}
			t.Reset(quiet - idle)
		}
	}()
	m, err := c.ExpectRegexp(ctx, re)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrStalled) {
		return nil, fmt.Errorf("waiting for /%s/: %w\n%s", re, cause, c.Tail(20))
	}
	return m, err
}

// Idle returns how long the console has printed nothing.
func (c *Console) Idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.last)
}

// LastLine returns the last complete or partial line of output that
// contains s, without its line end, or "".
func (c *Console) LastLine(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf.Bytes()
	i := bytes.LastIndex(b, []byte(s))
	if i < 0 {
		return ""
	}
	start := bytes.LastIndexByte(b[:i], '\n') + 1
	end := len(b)
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		end = i + j
	}
	return strings.TrimRight(string(b[start:end]), "\r")
}

// wait runs match on the unread output whenever it grows. match returns
// the end offset of the match (relative to its input), or -1.
func (c *Console) wait(ctx context.Context, what string, match func([]byte) (int, []string)) ([]string, error) {
	for {
		c.mu.Lock()
		unread := c.buf.Bytes()[c.cursor:]
		if end, m := match(unread); end >= 0 {
			c.cursor += end
			c.mu.Unlock()
			return m, nil
		}
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("waiting for %s: %w\n%s", what, ErrExited, c.Tail(20))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w\n%s", what, ctx.Err(), c.Tail(20))
		}
	}
}

// NotSeen returns an error if s appears anywhere in the output so far. It
// is the negative twin of Expect: call it after the point by which s would
// have been printed (for example after a later Expect succeeded).
func (c *Console) NotSeen(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := bytes.Index(c.buf.Bytes(), []byte(s)); i >= 0 {
		line := c.buf.Bytes()[i:]
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		return fmt.Errorf("console shows %q, which must not appear: %s", s, strings.TrimSpace(string(line)))
	}
	return nil
}

// Seen returns an error unless s appears somewhere in the output so far,
// before or after the Expect cursor. Use it for lines printed before a
// banner that an earlier Expect has already moved past.
func (c *Console) Seen(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Contains(c.buf.Bytes(), []byte(s)) {
		return fmt.Errorf("console does not show %q", s)
	}
	return nil
}

// String returns all output so far.
func (c *Console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Tail returns the last n lines of output, for error messages.
func (c *Console) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(c.String(), "\r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "console tail:\n  " + strings.Join(lines, "\n  ")
}

// Closed returns whether the console's source has ended.
func (c *Console) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
