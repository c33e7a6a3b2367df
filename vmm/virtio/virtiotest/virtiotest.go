// Package virtiotest builds split virtqueues by hand in a plain []byte guest
// memory, playing the driver's side of virtio 1.2 §2.7, so device models can
// be tested without a guest: lay out descriptor chains, publish them in the
// avail ring, and read back the used ring.
package virtiotest

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Descriptor flags (virtio 1.2 §2.7.5), for tests that hand-craft descriptors.
const (
	FlagNext     = 1
	FlagWrite    = 2
	FlagIndirect = 4
)

// Guest is a guest memory holding one or more virtqueues and a bump
// allocator for buffers.
type Guest struct {
	RAM  []byte
	Mem  *memory.Memory
	next uint64
}

// NewGuest returns a guest with size bytes of zeroed RAM at GPA 0. The first
// page stays unallocated so address 0 is never a valid buffer.
func NewGuest(size int) *Guest {
	ram := make([]byte, size)
	return &Guest{RAM: ram, Mem: memory.FromBytes(ram), next: 0x1000}
}

// Alloc reserves n bytes aligned to align (a power of 2) and returns their
// GPA. It panics when RAM is exhausted: that is a bug in the test.
func (g *Guest) Alloc(n, align uint64) uint64 {
	a := (g.next + align - 1) &^ (align - 1)
	if a+n > uint64(len(g.RAM)) {
		panic(fmt.Sprintf("virtiotest: out of guest RAM allocating %d bytes", n))
	}
	g.next = a + n
	return a
}

// Put copies b into newly allocated RAM and returns its GPA.
func (g *Guest) Put(b []byte) uint64 {
	a := g.Alloc(uint64(len(b)), 8)
	copy(g.RAM[a:], b)
	return a
}

// Ring is one split virtqueue laid out in a Guest, driven from the
// driver's side.
type Ring struct {
	G      *Guest
	Config virtio.QueueConfig
	free   uint16 // next unused descriptor index
	avail  uint16 // driver's avail idx
}

// NewRing lays out a queue of size entries (descriptor table, avail ring with
// used_event, used ring with avail_event) in g.
func (g *Guest) NewRing(size uint16) *Ring {
	n := uint64(size)
	return &Ring{G: g, Config: virtio.QueueConfig{
		Size:  size,
		Desc:  g.Alloc(16*n, 16),
		Avail: g.Alloc(6+2*n, 2),
		Used:  g.Alloc(6+8*n, 4),
	}}
}

// Buf is one buffer of a chain to build: Len bytes at Addr, device-writable
// when Write is set.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool
}

// In returns a device-readable buffer holding a copy of b.
func (g *Guest) In(b []byte) Buf { return Buf{Addr: g.Put(b), Len: uint32(len(b))} }

// Out returns a device-writable buffer of n bytes filled with fill.
func (g *Guest) Out(n int, fill byte) Buf {
	a := g.Alloc(uint64(n), 8)
	for i := range n {
		g.RAM[a+uint64(i)] = fill
	}
	return Buf{Addr: a, Len: uint32(n), Write: true}
}

// SetDesc writes descriptor i verbatim, for hostile tests.
func (r *Ring) SetDesc(i uint16, addr uint64, ln uint32, flags, next uint16) {
	b := r.G.RAM[r.Config.Desc+16*uint64(i):]
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], ln)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// AddChain writes bufs as a chain of consecutive free descriptors and
// returns its head index. It does not publish it.
func (r *Ring) AddChain(bufs ...Buf) uint16 {
	head := r.free
	for i, b := range bufs {
		idx := (head + uint16(i)) % r.Config.Size
		var flags uint16
		if b.Write {
			flags |= FlagWrite
		}
		next := (idx + 1) % r.Config.Size
		if i < len(bufs)-1 {
			flags |= FlagNext
		}
		r.SetDesc(idx, b.Addr, b.Len, flags, next)
	}
	r.free = (head + uint16(len(bufs))) % r.Config.Size
	return head
}

// AddIndirect writes bufs as an indirect table in fresh RAM and one
// descriptor pointing at it; it returns the head index.
func (r *Ring) AddIndirect(bufs ...Buf) uint16 {
	table := r.G.Alloc(16*uint64(len(bufs)), 16)
	for i, b := range bufs {
		var flags uint16
		if b.Write {
			flags |= FlagWrite
		}
		if i < len(bufs)-1 {
			flags |= FlagNext
		}
		e := r.G.RAM[table+16*uint64(i):]
		binary.LittleEndian.PutUint64(e[0:], b.Addr)
		binary.LittleEndian.PutUint32(e[8:], b.Len)
		binary.LittleEndian.PutUint16(e[12:], flags)
		binary.LittleEndian.PutUint16(e[14:], uint16(i+1))
	}
	head := r.free
	r.SetDesc(head, table, uint32(16*len(bufs)), FlagIndirect, 0)
	r.free = (head + 1) % r.Config.Size
	return head
}

// Publish puts heads in the avail ring and advances avail idx.
func (r *Ring) Publish(heads ...uint16) {
	for _, h := range heads {
		slot := uint64(r.avail % r.Config.Size)
		binary.LittleEndian.PutUint16(r.G.RAM[r.Config.Avail+4+2*slot:], h)
		r.avail++
	}
	r.SetAvailIdx(r.avail)
}

// SetAvailIdx writes avail idx verbatim.
func (r *Ring) SetAvailIdx(idx uint16) {
	binary.LittleEndian.PutUint16(r.G.RAM[r.Config.Avail+2:], idx)
}

// SetAvailFlags writes the avail ring flags (VIRTQ_AVAIL_F_NO_INTERRUPT = 1).
func (r *Ring) SetAvailFlags(f uint16) {
	binary.LittleEndian.PutUint16(r.G.RAM[r.Config.Avail:], f)
}

// SetUsedEvent writes used_event (VIRTIO_F_EVENT_IDX).
func (r *Ring) SetUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(r.G.RAM[r.Config.Avail+4+2*uint64(r.Config.Size):], v)
}

// AvailEvent reads avail_event (VIRTIO_F_EVENT_IDX).
func (r *Ring) AvailEvent() uint16 {
	return binary.LittleEndian.Uint16(r.G.RAM[r.Config.Used+4+8*uint64(r.Config.Size):])
}

// UsedIdx reads used idx.
func (r *Ring) UsedIdx() uint16 {
	return binary.LittleEndian.Uint16(r.G.RAM[r.Config.Used+2:])
}

// Used reads used ring element i (mod size): the chain head and length.
func (r *Ring) Used(i uint16) (id, ln uint32) {
	e := r.G.RAM[r.Config.Used+4+8*uint64(i%r.Config.Size):]
	return binary.LittleEndian.Uint32(e[0:]), binary.LittleEndian.Uint32(e[4:])
}

// Queue returns the device side of r, as a transport would create it after
// the driver enabled it with features negotiated.
func (r *Ring) Queue(features uint64) (*virtio.Queue, error) {
	return virtio.NewQueue(r.G.Mem, r.Config, r.Config.Size, features, nil)
}

// Bytes returns guest RAM at [addr, addr+n).
func (g *Guest) Bytes(addr uint64, n int) []byte { return g.RAM[addr : addr+uint64(n)] }

// Notifier counts used-buffer notifications per queue; its Notify method
// stands in for the notify function a transport hands to Device.Activate.
type Notifier struct {
	mu     sync.Mutex
	counts map[int]int
	ch     chan int
}

// NewNotifier returns a Notifier whose C channel receives each notified
// queue index (buffered; extra notifications are still counted).
func NewNotifier() *Notifier {
	return &Notifier{counts: map[int]int{}, ch: make(chan int, 1024)}
}

// Notify records a notification for queue q.
func (n *Notifier) Notify(q int) error {
	n.mu.Lock()
	n.counts[q]++
	n.mu.Unlock()
	select {
	case n.ch <- q:
	default:
	}
	return nil
}

// C returns the channel of notified queue indices.
func (n *Notifier) C() <-chan int { return n.ch }

// Count returns how many notifications queue q got.
func (n *Notifier) Count(q int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counts[q]
}

// Interrupt counts Trigger calls; it implements virtio.Interrupt.
type Interrupt struct {
	mu sync.Mutex
	n  int
}

// Trigger counts one interrupt.
func (i *Interrupt) Trigger() error {
	i.mu.Lock()
	i.n++
	i.mu.Unlock()
	return nil
}

// Count returns the number of Trigger calls.
func (i *Interrupt) Count() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.n
}
