package virtio

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// Descriptor flags (virtio 1.2 §2.7.5).
const (
	descFlagNext     = 1 // VIRTQ_DESC_F_NEXT
	descFlagWrite    = 2 // VIRTQ_DESC_F_WRITE
	descFlagIndirect = 4 // VIRTQ_DESC_F_INDIRECT
)

// Desc is one validated guest buffer of a chain: [Addr, Addr+Len) lies in a
// single region of guest RAM. Write marks a device-writable buffer.
type Desc struct {
	Addr  uint64
	Len   uint32
	Write bool
}

// Chain is a descriptor chain copied out of guest memory and validated once
// (virtio 1.2 §2.7.5). The guest may rewrite its descriptors afterwards;
// devices use only Descs. Device-readable buffers come first, then
// device-writable ones (§2.7.4.2).
type Chain struct {
	Head  uint16 // index of the head descriptor, returned through Push
	Descs []Desc
	split int // index of the first writable descriptor
}

// Readable returns the device-readable buffers.
func (c *Chain) Readable() []Desc { return c.Descs[:c.split] }

// Writable returns the device-writable buffers.
func (c *Chain) Writable() []Desc { return c.Descs[c.split:] }

// ReadLen returns the total bytes of device-readable buffers.
func (c *Chain) ReadLen() uint64 { return sumLen(c.Readable()) }

// WriteLen returns the total bytes of device-writable buffers.
func (c *Chain) WriteLen() uint64 { return sumLen(c.Writable()) }

func sumLen(ds []Desc) uint64 {
	var n uint64
	for _, d := range ds {
		n += uint64(d.Len)
	}
	return n
}

// walker accumulates one chain while enforcing the limits.
type walker struct {
	q     *Queue
	c     *Chain
	total uint64
}

// readChain copies the chain starting at head (virtio 1.2 §2.7.5, with
// indirect tables §2.7.5.3) and validates every descriptor: index in range,
// buffer inside guest RAM, no loop (walks are bounded by the table size), no
// readable buffer after a writable one, total length capped.
func (q *Queue) readChain(head uint16) (*Chain, error) {
	if head >= q.size {
		return nil, fmt.Errorf("head %d out of range (queue size %d)", head, q.size)
	}
	w := walker{q: q, c: &Chain{Head: head}}
	idx := head
	for n := 0; ; n++ {
		// virtio 1.2 §2.7.5.3.1: a chain is never longer than the queue.
		if n >= int(q.size) {
			return nil, fmt.Errorf("chain longer than queue size %d (loop?)", q.size)
		}
		raw := q.desc[descSize*uint64(idx):]
		addr, ln, flags, next := decodeDesc(raw)
		if flags&descFlagIndirect != 0 {
			if err := w.indirect(addr, ln, flags); err != nil {
				return nil, err
			}
			break
		}
		if err := w.add(addr, ln, flags); err != nil {
			return nil, fmt.Errorf("descriptor %d: %w", idx, err)
		}
		if flags&descFlagNext == 0 {
			break
		}
		if next >= q.size {
			return nil, fmt.Errorf("descriptor %d: next %d out of range (queue size %d)", idx, next, q.size)
		}
		idx = next
	}
	return w.c, nil
}

func decodeDesc(b []byte) (addr uint64, ln uint32, flags, next uint16) {
	return binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint32(b[8:]),
		binary.LittleEndian.Uint16(b[12:]), binary.LittleEndian.Uint16(b[14:])
}

// indirect walks an indirect descriptor table (virtio 1.2 §2.7.5.3): the
// feature must be negotiated, the descriptor must not also have NEXT, the
// table must be a whole number of descriptors inside guest RAM, and no entry
// may itself be indirect.
func (w *walker) indirect(addr uint64, ln uint32, flags uint16) error {
	switch {
	case !w.q.indirect:
		return fmt.Errorf("indirect descriptor without VIRTIO_F_INDIRECT_DESC")
	case flags&descFlagNext != 0:
		return fmt.Errorf("indirect descriptor with NEXT set")
	case ln == 0 || ln%descSize != 0:
		return fmt.Errorf("indirect table length %d not a positive multiple of %d", ln, descSize)
	case int(ln/descSize) > w.q.maxIndir:
		return fmt.Errorf("indirect table of %d entries above limit %d", ln/descSize, w.q.maxIndir)
	}
	table, err := w.q.mem.Slice(addr, uint64(ln))
	if err != nil {
		return fmt.Errorf("indirect table: %w", err)
	}
	// Copy the table first so the guest cannot change it under the walk.
	table = append([]byte(nil), table...)
	count := uint16(ln / descSize)
	idx := uint16(0)
	for n := uint16(0); ; n++ {
		if n >= count {
			return fmt.Errorf("indirect chain longer than its table of %d (loop?)", count)
		}
		a, l, f, next := decodeDesc(table[descSize*uint64(idx):])
		if f&descFlagIndirect != 0 {
			return fmt.Errorf("nested indirect descriptor at indirect entry %d", idx)
		}
		if err := w.add(a, l, f); err != nil {
			return fmt.Errorf("indirect entry %d: %w", idx, err)
		}
		if f&descFlagNext == 0 {
			return nil
		}
		if next >= count {
			return fmt.Errorf("indirect entry %d: next %d out of range (table of %d)", idx, next, count)
		}
		idx = next
	}
}

// add validates one buffer and appends it to the chain.
func (w *walker) add(addr uint64, ln uint32, flags uint16) error {
	if addr+uint64(ln) < addr {
		return fmt.Errorf("buffer %#x+%#x overflows", addr, ln)
	}
	if _, err := w.q.mem.Slice(addr, uint64(ln)); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	w.total += uint64(ln)
	if w.total > w.q.maxChainSz {
		return fmt.Errorf("chain length %d above limit %d", w.total, w.q.maxChainSz)
	}
	write := flags&descFlagWrite != 0
	if !write && w.c.split != len(w.c.Descs) {
		// virtio 1.2 §2.7.4.2: writable buffers come after readable ones.
		return fmt.Errorf("device-readable buffer after a device-writable one")
	}
	w.c.Descs = append(w.c.Descs, Desc{Addr: addr, Len: ln, Write: write})
	if !write {
		w.c.split++
	}
	return nil
}

// Reader reads the device-readable buffers of a chain in order.
type Reader struct {
	mem   *memory.Memory
	descs []Desc
	off   uint32 // offset into descs[0]
}

// NewReader returns a Reader over c's device-readable buffers.
func NewReader(mem *memory.Memory, c *Chain) *Reader {
	return &Reader{mem: mem, descs: c.Readable()}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.descs) > 0 {
		d := r.descs[0]
		s, err := r.mem.Slice(d.Addr+uint64(r.off), uint64(d.Len-r.off))
		if err != nil {
			return n, err
		}
		k := copy(p[n:], s)
		n += k
		r.off += uint32(k)
		if r.off == d.Len {
			r.descs, r.off = r.descs[1:], 0
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Writer writes into the device-writable buffers of a chain in order.
type Writer struct {
	mem     *memory.Memory
	descs   []Desc
	off     uint32
	written uint32
}

// NewWriter returns a Writer over c's device-writable buffers.
func NewWriter(mem *memory.Memory, c *Chain) *Writer {
	return &Writer{mem: mem, descs: c.Writable()}
}

// Write implements io.Writer. It returns io.ErrShortWrite when the buffers
// are full.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(w.descs) > 0 {
		d := w.descs[0]
		s, err := w.mem.Slice(d.Addr+uint64(w.off), uint64(d.Len-w.off))
		if err != nil {
			return n, err
		}
		k := copy(s, p[n:])
		n += k
		w.off += uint32(k)
		w.written += uint32(k)
		if w.off == d.Len {
			w.descs, w.off = w.descs[1:], 0
		}
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// Written returns the bytes written so far, the used length to Push.
func (w *Writer) Written() uint32 { return w.written }
