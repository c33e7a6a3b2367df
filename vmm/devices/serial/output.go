package serial

import (
	"io"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/vmm/ring"
)

// flushDelay bounds how long a partial line (a prompt) waits before it is
// written out.
const flushDelay = 20 * time.Millisecond

// outBufSize is the most output held before a forced write.
const outBufSize = 4096

// Output is where transmitted bytes go: a console writer and a ring buffer.
// Bytes are batched per line so that the per-byte THR exits do not each cost
// a write system call; a partial line is written after flushDelay.
type Output struct{ o *output }

// output is the shared state behind Output.
type output struct {
	ring *ring.Buffer

	mu sync.Mutex
	// w, limit, written, buf, timer and err are guarded by mu.
	w       io.Writer
	limit   int64 // most bytes written to w; 0 means no limit
	written int64
	buf     []byte
	timer   *time.Timer
	err     error
}

// limitNote ends a console log that reached its limit.
const limitNote = "\n[ironvisor: console log limit reached; later output is only in the ring buffer]\n"

// NewOutput sends console bytes to w and ring; either may be nil.
func NewOutput(w io.Writer, r *ring.Buffer) *Output {
	return &Output{o: &output{w: w, ring: r, buf: make([]byte, 0, outBufSize)}}
}

// SetLimit caps what the console writer receives at max bytes (0: no cap),
// so a guest printing without end cannot fill the host's disk. Past the cap
// the writer gets one note saying so; the ring buffer keeps everything new.
func (o *Output) SetLimit(max int64) {
	o.o.mu.Lock()
	o.o.limit = max
	o.o.mu.Unlock()
}

// Ring returns the ring buffer (nil if none).
func (o *Output) Ring() *ring.Buffer { return o.o.ring }

// Flush writes out any batched bytes.
func (o *Output) Flush() error {
	o.o.mu.Lock()
	defer o.o.mu.Unlock()
	o.o.flushLocked()
	return o.o.err
}

// writeByte batches one transmitted byte.
func (o *output) writeByte(b byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, b)
	if b == '\n' || len(o.buf) >= outBufSize {
		o.flushLocked()
		return
	}
	if o.timer == nil {
		o.timer = time.AfterFunc(flushDelay, o.flushTimer)
	}
}

// flushTimer writes a partial line once its delay has passed.
func (o *output) flushTimer() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.timer = nil
	o.flushLocked()
}

// flushLocked writes the batch to the ring and the console. A console write
// error is kept (and the console dropped) so a full disk does not stop the
// guest.
func (o *output) flushLocked() {
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	if len(o.buf) == 0 {
		return
	}
	if o.ring != nil {
		o.ring.Write(o.buf)
	}
	if o.w != nil {
		o.writeConsole(o.buf)
	}
	o.buf = o.buf[:0]
}

// writeConsole writes p to the console writer within its limit.
func (o *output) writeConsole(p []byte) {
	last := false
	if o.limit > 0 && o.written+int64(len(p)) >= o.limit {
		p = append(p[:o.limit-o.written:o.limit-o.written], limitNote...)
		last = true
	}
	n, err := o.w.Write(p)
	o.written += int64(n)
	if err != nil {
		o.err = err
	}
	if err != nil || last {
		o.w = nil
	}
}
