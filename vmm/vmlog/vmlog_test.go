package vmlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBurstThenSuppressed: a flood of one message passes its burst, then
// nothing until the bucket refills; the next one that passes is preceded
// by a count of those dropped. Another kind of message, or the same
// message from another device, has a bucket of its own.
func TestBurstThenSuppressed(t *testing.T) {
	now := time.Unix(1e9, 0)
	var buf bytes.Buffer
	log := New(&buf, slog.LevelWarn, Limits{Burst: 3, Every: time.Second, Now: func() time.Time { return now }})
	blk, net := log.With("virtio", "blk"), log.With("virtio", "net")
	for range 1000 {
		blk.Warn("bad write", "offset", 0x70)
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("%d lines after a flood, want the burst of 3:\n%s", n, buf.String())
	}
	net.Warn("bad write")
	blk.Warn("other")
	if n := strings.Count(buf.String(), "\n"); n != 5 {
		t.Fatalf("another device's or kind's message was suppressed:\n%s", buf.String())
	}
	now = now.Add(time.Second)
	buf.Reset()
	blk.Warn("bad write")
	want := []string{`msg="997 messages suppressed" virtio=blk of="bad write"`, `msg="bad write" virtio=blk`}
	for _, w := range want {
		if !strings.Contains(buf.String(), w) {
			t.Fatalf("after a refill:\n%s\nlacks %s", buf.String(), w)
		}
	}
}

// TestCapped: past MaxBytes one note is written and nothing after it.
func TestCapped(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1e9, 0)
	log := New(&buf, slog.LevelWarn, Limits{MaxBytes: 4096, Now: func() time.Time { now = now.Add(time.Hour); return now }})
	for i := range 10000 {
		log.Warn("refill every time", "i", i)
	}
	if buf.Len() > 4096+200 {
		t.Fatalf("log grew to %d bytes, cap 4096", buf.Len())
	}
	if !strings.HasSuffix(buf.String(), "later messages are dropped\n") {
		t.Fatalf("no note at the cap: ...%s", buf.String()[buf.Len()-100:])
	}
}

// TestManyKindsShareABucket: messages that vary (should guest data ever
// reach one) cannot grow the limiter without bound.
func TestManyKindsShareABucket(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelWarn, Limits{Burst: 1, Every: time.Hour})
	for i := range 5000 {
		log.Warn(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26))
	}
	h := log.Handler().(*handler)
	if n := len(h.lim.buckets); n > maxKinds+1 {
		t.Fatalf("%d buckets, limit %d", n, maxKinds)
	}
	if n := strings.Count(buf.String(), "\n"); n > maxKinds+1 {
		t.Fatalf("%d lines from 5000 distinct messages, want at most %d", n, maxKinds+1)
	}
}
