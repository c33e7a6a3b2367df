// Package vmlog is the VMM's log. A guest can make the VMM log (a bad
// register write, a broken queue, a refused feature), and the log is a
// file on the host's data disk, so nothing the guest does may grow it
// without bound:
//
//   - every message goes through a token bucket of its own, per logger
//     scope (the device) and message text: a burst, then one message per
//     interval; when a message is let through again after some were
//     dropped, a line "N messages suppressed" comes first;
//   - the bytes written are capped: past MaxBytes one note says so and
//     later messages are dropped. The VMM's last line (its exit reason,
//     written straight to stderr by its main) is not counted.
package vmlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Limits bound a log. Zero fields take the defaults below.
type Limits struct {
	// Burst is how many messages of one kind pass at once (default 10).
	Burst int
	// Every is how often one more message of a kind is allowed after the
	// burst (default 10 s).
	Every time.Duration
	// MaxBytes caps what is written in all (default 1 MiB).
	MaxBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultBurst    = 10
	DefaultEvery    = 10 * time.Second
	DefaultMaxBytes = 1 << 20
)

// maxKinds bounds the buckets kept: messages are constant strings, but
// should one ever carry guest data, the kinds past this share one bucket.
const maxKinds = 1024

// New returns a text logger at level that writes to w within l.
func New(w io.Writer, level slog.Level, l Limits) *slog.Logger {
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.Every <= 0 {
		l.Every = DefaultEvery
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	cw := &capWriter{w: w, max: l.MaxBytes}
	next := slog.NewTextHandler(cw, &slog.HandlerOptions{Level: level})
	return slog.New(&handler{next: next, lim: &limiter{l: l, buckets: map[string]*bucket{}}})
}

// handler rate-limits records before its next handler formats them.
type handler struct {
	next  slog.Handler
	lim   *limiter
	scope string // the attributes and groups added with With, as text
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.lim.allow(h.scope + "\x00" + r.Message)
	if !ok {
		return nil
	}
	if dropped > 0 {
		n := slog.NewRecord(r.Time, r.Level, fmt.Sprintf("%d messages suppressed", dropped), 0)
		n.AddAttrs(slog.String("of", r.Message))
		if err := h.next.Handle(ctx, n); err != nil {
			return err
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(as), lim: h.lim, scope: h.scope + fmt.Sprint(as)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), lim: h.lim, scope: h.scope + "." + name}
}

// limiter holds one token bucket per kind of message.
type limiter struct {
	l Limits

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

// bucket is one kind's tokens, refilled at l.Every, up to l.Burst.
type bucket struct {
	tokens  float64
	last    time.Time
	dropped int
}

// allow takes a token of kind's bucket; it reports whether the message
// may be written and how many of its kind were dropped since the last
// one written.
func (l *limiter) allow(kind string) (bool, int) {
	now := l.l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[kind]
	if b == nil {
		if len(l.buckets) >= maxKinds {
			kind = ""
			b = l.buckets[kind]
		}
		if b == nil {
			b = &bucket{tokens: float64(l.l.Burst), last: now}
			l.buckets[kind] = b
		}
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(l.l.Burst), b.tokens+float64(el)/float64(l.l.Every))
		b.last = now
	}
	if b.tokens < 1 {
		b.dropped++
		return false, 0
	}
	b.tokens--
	dropped := b.dropped
	b.dropped = 0
	return true, dropped
}

// capWriter writes to w until max bytes, then one note, then nothing.
type capWriter struct {
	w   io.Writer
	max int64

	mu   sync.Mutex
	n    int64 // bytes written; guarded by mu
	full bool  // the note is written; guarded by mu
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return len(p), nil
	}
	if c.n+int64(len(p)) > c.max {
		c.full = true
		fmt.Fprintf(c.w, "vmm log reached its cap of %d bytes; later messages are dropped\n", c.max)
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
