package serial

import "sync"

// Ring is a bounded byte ring that keeps the newest output. Readers address
// bytes by their absolute position in the stream, so a client can resume
// where it stopped and learn how much it missed. It is safe for concurrent
// use.
type Ring struct {
	mu sync.Mutex
	// buf, total are guarded by mu.
	buf   []byte
	total uint64 // bytes ever written; buf holds the last min(total, len(buf))
}

// NewRing returns a ring that keeps the last size bytes (size > 0).
func NewRing(size int) *Ring {
	if size <= 0 {
		size = 1
	}
	return &Ring{buf: make([]byte, size)}
}

// Write appends p, overwriting the oldest bytes. It never fails.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	if len(p) > len(r.buf) {
		r.total += uint64(len(p) - len(r.buf))
		p = p[len(p)-len(r.buf):]
	}
	for len(p) > 0 {
		i := int(r.total % uint64(len(r.buf)))
		c := copy(r.buf[i:], p)
		p = p[c:]
		r.total += uint64(c)
	}
	return n, nil
}

// ReadFrom returns a copy of the bytes from absolute position off to the end
// of the stream, and the position after them. If off is older than what the
// ring still holds, it starts at the oldest byte kept (the caller sees the
// gap as next-len(data) > off). A future off returns nothing.
func (r *Ring) ReadFrom(off uint64) (data []byte, next uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := uint64(0)
	if r.total > uint64(len(r.buf)) {
		oldest = r.total - uint64(len(r.buf))
	}
	if off < oldest {
		off = oldest
	}
	if off >= r.total {
		return nil, r.total
	}
	out := make([]byte, 0, r.total-off)
	for p := off; p < r.total; {
		i := int(p % uint64(len(r.buf)))
		end := len(r.buf)
		if rem := r.total - p; rem < uint64(end-i) {
			end = i + int(rem)
		}
		out = append(out, r.buf[i:end]...)
		p += uint64(end - i)
	}
	return out, r.total
}

// Total returns how many bytes were ever written.
func (r *Ring) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}
