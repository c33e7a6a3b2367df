package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// MaxQueueSize is the largest split virtqueue (virtio 1.2 §2.7: "Queue Size
// ... maximum 32768").
const MaxQueueSize = 32768

// ErrQueueBroken wraps every error that marks a queue, and its device, as
// needing a reset.
var ErrQueueBroken = errors.New("virtqueue broken by the driver")

// Ring element sizes and offsets of the split virtqueue (virtio 1.2 §2.7).
const (
	descSize     = 16 // struct virtq_desc: addr u64, len u32, flags u16, next u16
	usedElemSize = 8  // struct virtq_used_elem: id u32, len u32
	ringHeader   = 4  // flags u16, idx u16 of both rings

	availFlagNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
)

// QueueConfig is what the driver programmed for one queue: its size and the
// guest physical addresses of the descriptor table, the driver area (avail
// ring) and the device area (used ring).
type QueueConfig struct {
	Size  uint16
	Desc  uint64
	Avail uint64
	Used  uint64
}

// Queue is the device side of one split virtqueue (virtio 1.2 §2.7).
//
// A Queue is not safe for concurrent use: the device owning it serializes
// Pop, Push and NeedsInterrupt (one goroutine per queue, or a mutex).
//
// Memory ordering (virtio 1.2 §2.7.13): the driver publishes descriptors,
// then the avail entry, then avail idx; the device writes the used element,
// then used idx. This package uses plain loads and stores through guest-RAM
// slices. That is enough on x86-64 because the architecture (TSO) neither
// reorders stores with other stores nor loads with other loads, and the gc
// compiler keeps stores to memory in program order. The loads that must
// follow the avail idx load (the avail entry, then the descriptors) sit
// behind a branch on that idx, which the compiler does not hoist loads
// above, and the descriptor loads also depend on the head's value. The one
// store→load ordering virtio needs (used idx store before reading
// used_event / avail flags for notification suppression) gets a full
// barrier from a locked atomic instruction, see NeedsInterrupt. Other
// architectures need real barriers.
type Queue struct {
	mem      *memory.Memory
	size     uint16
	desc     []byte // descriptor table, size*16 bytes
	avail    []byte // flags, idx, ring[size], used_event
	used     []byte // flags, idx, ring[size], avail_event
	indirect bool
	eventIdx bool
	onBroken func(error)

	lastAvail  uint16 // next avail ring entry to consume
	usedIdx    uint16 // our copy of used idx
	signalled  uint16 // used idx when we last decided about an interrupt
	fence      uint32 // target of the locked instruction used as a barrier
	err        error  // non-nil once broken
	maxIndir   int
	maxChainSz uint64
}

// MaxChainBytes caps the total length of one descriptor chain. Guests never
// need more (a virtio-blk request is at most seg_max*size_max), and a cap
// keeps a hostile chain from making the device do unbounded work.
const MaxChainBytes = 256 << 20

// MaxIndirectDescs caps the entries of one indirect table.
const MaxIndirectDescs = 1024

// NewQueue validates cfg against guest memory and returns the device side of
// the queue. maxSize is the device's maximum for this queue; features are the
// negotiated feature bits (INDIRECT_DESC and EVENT_IDX matter here).
// onBroken, if non-nil, is called once when the driver breaks the queue.
func NewQueue(mem *memory.Memory, cfg QueueConfig, maxSize uint16, features uint64, onBroken func(error)) (*Queue, error) {
	if err := checkQueueConfig(cfg, maxSize); err != nil {
		return nil, err
	}
	n := uint64(cfg.Size)
	// virtio 1.2 §2.7: descriptor table 16*n, driver area 6+2*n, device
	// area 6+8*n bytes.
	desc, err := mem.Slice(cfg.Desc, descSize*n)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptor table: %w", ErrQueueBroken, err)
	}
	avail, err := mem.Slice(cfg.Avail, ringHeader+2*n+2)
	if err != nil {
		return nil, fmt.Errorf("%w: avail ring: %w", ErrQueueBroken, err)
	}
	used, err := mem.Slice(cfg.Used, ringHeader+usedElemSize*n+2)
	if err != nil {
		return nil, fmt.Errorf("%w: used ring: %w", ErrQueueBroken, err)
	}
	return &Queue{
		mem: mem, size: cfg.Size, desc: desc, avail: avail, used: used,
		indirect:   features&FeatureIndirectDesc != 0,
		eventIdx:   features&FeatureEventIdx != 0,
		onBroken:   onBroken,
		maxIndir:   MaxIndirectDescs,
		maxChainSz: MaxChainBytes,
		// The driver initialises used idx to 0 with the ring (§2.7.8),
		// but take what is there so a re-activated queue stays coherent.
		usedIdx:   binary.LittleEndian.Uint16(used[2:]),
		signalled: binary.LittleEndian.Uint16(used[2:]),
	}, nil
}

// checkQueueConfig applies virtio 1.2 §2.7 (size a power of 2, at most the
// device maximum) and the alignments of §2.7 table "Virtqueue Part
// Alignment": descriptor table 16, driver area 2, device area 4.
func checkQueueConfig(cfg QueueConfig, maxSize uint16) error {
	switch {
	case cfg.Size == 0:
		return fmt.Errorf("%w: queue size 0", ErrQueueBroken)
	case cfg.Size&(cfg.Size-1) != 0:
		return fmt.Errorf("%w: queue size %d is not a power of 2", ErrQueueBroken, cfg.Size)
	case cfg.Size > maxSize || cfg.Size > MaxQueueSize:
		return fmt.Errorf("%w: queue size %d above maximum %d", ErrQueueBroken, cfg.Size, maxSize)
	case cfg.Desc%16 != 0:
		return fmt.Errorf("%w: descriptor table %#x not 16-byte aligned", ErrQueueBroken, cfg.Desc)
	case cfg.Avail%2 != 0:
		return fmt.Errorf("%w: avail ring %#x not 2-byte aligned", ErrQueueBroken, cfg.Avail)
	case cfg.Used%4 != 0:
		return fmt.Errorf("%w: used ring %#x not 4-byte aligned", ErrQueueBroken, cfg.Used)
	}
	return nil
}

// Size returns the queue size the driver chose.
func (q *Queue) Size() uint16 { return q.size }

// Err returns the error that broke the queue, or nil.
func (q *Queue) Err() error { return q.err }

// fail marks the queue broken with err (wrapped in ErrQueueBroken) and tells
// the transport once.
func (q *Queue) fail(format string, args ...any) error {
	if q.err != nil {
		return q.err
	}
	q.err = fmt.Errorf("%w: %s", ErrQueueBroken, fmt.Sprintf(format, args...))
	if q.onBroken != nil {
		q.onBroken(q.err)
	}
	return q.err
}

// Pop returns the next available descriptor chain, copied and validated, or
// nil when the driver has made nothing new available. A non-nil error means
// the driver broke the queue; every later call returns it too.
func (q *Queue) Pop() (*Chain, error) {
	if q.err != nil {
		return nil, q.err
	}
	availIdx := binary.LittleEndian.Uint16(q.avail[2:])
	pending := availIdx - q.lastAvail // wraps mod 2^16 as the spec intends
	if pending == 0 && q.eventIdx {
		availIdx = q.armAvailEvent()
		pending = availIdx - q.lastAvail
	}
	if pending == 0 {
		return nil, nil
	}
	// virtio 1.2 §2.7.6: the driver can be at most Queue Size entries
	// ahead of the device.
	if pending > q.size {
		return nil, q.fail("avail idx %d is %d entries ahead of %d (queue size %d)", availIdx, pending, q.lastAvail, q.size)
	}
	slot := uint64(q.lastAvail % q.size)
	head := binary.LittleEndian.Uint16(q.avail[ringHeader+2*slot:])
	c, err := q.readChain(head)
	if err != nil {
		return nil, q.fail("chain at head %d: %v", head, err)
	}
	q.lastAvail++
	if q.eventIdx {
		// virtio 1.2 §2.7.10: avail_event tells the driver which avail
		// idx to notify us at; ask for the very next one.
		binary.LittleEndian.PutUint16(q.used[ringHeader+usedElemSize*uint64(q.size):], q.lastAvail)
	}
	return c, nil
}

// armAvailEvent asks the driver to notify at the next avail entry and
// re-reads avail idx (virtio 1.2 §2.7.10). The barrier orders our
// avail_event store before the avail idx load; the driver does the mirror
// image (store avail idx, barrier, load avail_event), so one of the two sees
// the other and a buffer added just now is never left without a kick.
func (q *Queue) armAvailEvent() uint16 {
	binary.LittleEndian.PutUint16(q.used[ringHeader+usedElemSize*uint64(q.size):], q.lastAvail)
	atomic.AddUint32(&q.fence, 1)
	return binary.LittleEndian.Uint16(q.avail[2:])
}

// Pending reports whether the driver has made chains available that Pop has
// not returned yet.
func (q *Queue) Pending() bool {
	return q.err == nil && binary.LittleEndian.Uint16(q.avail[2:]) != q.lastAvail
}

// Push returns chain head to the driver through the used ring, with written
// bytes of device-writable buffers filled (virtio 1.2 §2.7.8).
func (q *Queue) Push(head uint16, written uint32) error {
	return q.PushAll(Used{Head: head, Len: written})
}

// Used is one used ring element: a chain's head and the bytes the device
// wrote into it.
type Used struct {
	Head uint16
	Len  uint32
}

// PushAll returns several chains at once: it writes every used element,
// then moves used idx once, so the driver sees all of them or none. A
// device whose unit of work spans chains needs that: virtio-net's
// mergeable receive buffers, where the driver reads num_buffers from the
// first chain and expects the others already used (virtio 1.2 §5.1.6.4.2:
// "MUST use all buffers used by a single receive packet together").
func (q *Queue) PushAll(elems ...Used) error {
	if q.err != nil {
		return q.err
	}
	idx := q.usedIdx
	for _, u := range elems {
		e := q.used[ringHeader+usedElemSize*uint64(idx%q.size):]
		binary.LittleEndian.PutUint32(e[0:], uint32(u.Head))
		binary.LittleEndian.PutUint32(e[4:], u.Len)
		idx++
	}
	q.usedIdx = idx
	// Elements before idx: plain stores stay in program order on x86-64
	// (see the Queue doc comment).
	binary.LittleEndian.PutUint16(q.used[2:], q.usedIdx)
	return nil
}

// NeedsInterrupt reports whether the driver wants a used buffer notification
// for what Push returned since the last call (virtio 1.2 §2.7.7 without, and
// §2.7.10 with VIRTIO_F_EVENT_IDX).
func (q *Queue) NeedsInterrupt() bool {
	if q.err != nil {
		return false
	}
	old, cur := q.signalled, q.usedIdx
	q.signalled = cur
	// Full barrier: our used idx store must be visible before we read the
	// driver's suppression fields, or we could miss its update and leave
	// it waiting forever. On x86-64 a locked instruction orders store→load.
	atomic.AddUint32(&q.fence, 1)
	if !q.eventIdx {
		return old != cur && binary.LittleEndian.Uint16(q.avail[0:])&availFlagNoInterrupt == 0
	}
	usedEvent := binary.LittleEndian.Uint16(q.avail[ringHeader+2*uint64(q.size):])
	// vring_need_event: notify if used_event lies in [old, cur).
	return cur-usedEvent-1 < cur-old
}
