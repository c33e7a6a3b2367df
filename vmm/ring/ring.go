// Package ring provides the bounded, offset-addressed byte ring that holds a
// VM's console output.
//
// Writers (the serial device) append cheaply and never block on readers or
// fail: once the ring is full the oldest bytes are overwritten. Readers (the
// control socket) address bytes by their absolute offset in the stream since
// the VM started, so a client can stream the console by passing back the
// offset it was last given, and can tell when it fell behind and lost bytes.
package ring

import "sync"

// Buffer is a fixed-capacity ring of bytes addressed by absolute stream
// offset. The zero value is not usable; call New. A Buffer is safe for
// concurrent use by any number of writers and readers.
type Buffer struct {
	// mu guards the fields below.
	mu sync.Mutex
	// buf holds the most recent len(buf) bytes of the stream; byte at
	// absolute offset o lives at buf[o%len(buf)].
	buf []byte
	// end is the absolute offset one past the last byte written.
	end int64
}

// New returns an empty Buffer that keeps the last size bytes written.
// A size below 1 is raised to 1.
func New(size int) *Buffer {
	if size < 1 {
		size = 1
	}
	return &Buffer{buf: make([]byte, size)}
}

// Write appends p, overwriting the oldest bytes when the ring is full. It
// always returns len(p), nil, so a Buffer can sit behind an io.MultiWriter.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	size := len(b.buf)
	b.end += int64(n)
	if len(p) > size {
		// Only the tail of p survives.
		p = p[len(p)-size:]
	}
	start := int((b.end - int64(len(p))) % int64(size))
	c := copy(b.buf[start:], p)
	copy(b.buf, p[c:])
	return n, nil
}

// Read copies up to max bytes of the stream starting at absolute offset
// off and returns them with next, the offset to pass on the following call.
//
// If off is older than the oldest byte still held, reading starts at the
// oldest byte instead: the caller detects the gap because
// next-int64(len(data)) != off. If off is at or past the end of the stream,
// or max < 1, data is empty and next is min(off, end) for off >= 0 (a
// negative off reads from the oldest byte held).
func (b *Buffer) Read(off int64, max int) (data []byte, next int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	size := int64(len(b.buf))
	oldest := b.end - size
	if oldest < 0 {
		oldest = 0
	}
	if off < oldest {
		off = oldest
	}
	if off >= b.end || max < 1 {
		if off > b.end {
			off = b.end
		}
		return nil, off
	}
	n := b.end - off
	if n > int64(max) {
		n = int64(max)
	}
	data = make([]byte, n)
	start := off % size
	c := copy(data, b.buf[start:])
	copy(data[c:], b.buf)
	return data, off + n
}

// End returns the absolute offset one past the last byte written: the total
// number of bytes ever written.
func (b *Buffer) End() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}

// Cap returns the number of bytes the ring keeps.
func (b *Buffer) Cap() int { return len(b.buf) }
