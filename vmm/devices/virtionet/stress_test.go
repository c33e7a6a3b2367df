package virtionet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// The receive stress test: the "host" writes many frames (small, MTU-sized
// and, when the driver takes TSO, 64 KiB GSO frames with their vnet header,
// as a tap with offloads delivers them) while a driver goroutine, written
// after Linux's virtio_net and virtio_ring, consumes used buffers through
// the real virtio-mmio transport (ISR read and InterruptACK, kicks,
// notification suppression) and reposts them after random delays. It checks
// what a guest depends on: every frame arrives intact and in order or is
// counted as dropped; a packet's num_buffers buffers are all visible once
// its first one is (virtio 1.2 §5.1.6.4.2); used lengths fit the buffers;
// nothing is written outside posted buffers (guard bytes) nor into a buffer
// after it was used; and delivery never stops, nor an interrupt goes
// missing, while buffers are posted.

const (
	stressRing  = 256
	guardLen    = 64
	guardByte   = 0xa5
	poisonByte  = 0x5a
	stressMTU   = 1514
	stressGSO   = 14 + 65535 // the largest frame a tap with TSO hands over
	stallLimit  = 5 * time.Second
	irqLostWait = 2 * time.Second
)

// stressMode is one feature set under test.
type stressMode struct {
	name  string
	acked uint64
	// bufs are the pieces of one receive chain (more than one: an
	// indirect chain, as Linux's "big packets" mode posts).
	bufs []int
}

func stressModes() []stressMode {
	tso := uint64(FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6)
	big := []int{HeaderLen}
	for range 17 {
		big = append(big, 4096)
	}
	return []stressMode{
		// Linux's defaults: mergeable buffers of about an MTU (the
		// smallest Linux posts), event index on.
		{"mrg+eventidx+tso", virtio.FeatureEventIdx | FeatureMrgRxbuf | tso, []int{1536}},
		{"mrg+tso", FeatureMrgRxbuf | tso, []int{1536}},
		{"mrg+eventidx+4k", virtio.FeatureEventIdx | FeatureMrgRxbuf | tso, []int{4096}},
		{"big+eventidx+tso", virtio.FeatureEventIdx | virtio.FeatureIndirectDesc | tso, big},
		{"big+tso", virtio.FeatureIndirectDesc | tso, big},
		{"small+eventidx", virtio.FeatureEventIdx, []int{HeaderLen + stressMTU}},
		{"small", 0, []int{HeaderLen + stressMTU}},
	}
}

// frameKind derives a frame's length and vnet header from its sequence
// number, so the receiver can rebuild what the host sent.
func frameKind(seq uint32, tso bool) (int, Header) {
	r := (seq * 2654435761) >> 24
	switch {
	case tso && r%4 == 0:
		return stressGSO - int(r%7), Header{Flags: HdrFNeedsCsum, GSOType: GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	case r%4 == 1:
		return 60, Header{Flags: HdrFDataValid}
	case r%4 == 2:
		return stressMTU, Header{}
	}
	return 60 + int(r*5)%(stressMTU-60), Header{}
}

// stressFrame returns frame seq: an Ethernet header, the sequence number,
// then bytes that depend on seq and position.
func stressFrame(seq uint32, n int) []byte {
	f := frame(n, 0)
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < n; i++ {
		f[i] = byte(seq*7 + uint32(i))
	}
	return f
}

// guestRAM maps anonymous memory outside the Go heap, like a VMM's guest
// RAM: the race detector does not watch it, just as it cannot see a real
// guest's vCPUs. The driver below orders its ring accesses itself.
func guestRAM(t *testing.T, size int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(b) })
	return b
}

// irqChan is the device's interrupt line: an edge latched until the driver
// takes it, as a LAPIC's IRR does.
type irqChan chan struct{}

func (c irqChan) Trigger() error {
	select {
	case c <- struct{}{}:
	default:
	}
	return nil
}

// piece is one guest buffer with guard bytes on both sides.
type piece struct{ addr, n uint64 }

// slot is one receive chain the driver posts again and again.
type slot struct {
	pieces []piece
	table  uint64 // indirect table, when len(pieces) > 1
	posted bool
	used   bool // used at least once, so poisoned until posted again
	cap    uint64
}

// stressDriver plays Linux's virtio_net receive side on the real
// virtio-mmio transport.
type stressDriver struct {
	t     *testing.T
	mode  stressMode
	ram   []byte
	m     *virtio.MMIO
	irq   irqChan
	desc  uint64
	avail uint64
	used  uint64
	slots []slot

	availIdx  uint16 // driver's avail idx
	posts     uint64 // chains posted in all
	kickedAt  uint16 // avail idx at the last kick decision
	lastUsed  uint16
	cbEnabled bool

	received  atomic.Uint64
	lastSeq   int64
	failures  atomic.Int32
	failMu    sync.Mutex
	failFirst string
}

func (d *stressDriver) fail(format string, args ...any) {
	d.failures.Add(1)
	d.failMu.Lock()
	if d.failFirst == "" {
		d.failFirst = fmt.Sprintf(format, args...)
	}
	d.failMu.Unlock()
}

func (d *stressDriver) word(off uint64) *uint32 {
	return memory.Word32(d.ram, off)
}

func (d *stressDriver) usedIdx() uint16 { return uint16(atomic.LoadUint32(d.word(d.used)) >> 16) }
func (d *stressDriver) availEvent() uint16 {
	return uint16(atomic.LoadUint32(d.word(d.used + 4 + 8*stressRing)))
}
func (d *stressDriver) setUsedEvent(v uint16) {
	atomic.StoreUint32(d.word(d.avail+4+2*stressRing), uint32(v))
}

// setAvail publishes avail flags and idx in one store (a full barrier in
// Go, as virtio_mb is in Linux).
func (d *stressDriver) setAvail(flags uint16) {
	atomic.StoreUint32(d.word(d.avail), uint32(flags)|uint32(d.availIdx)<<16)
}

func (d *stressDriver) alloc(next *uint64, n, align uint64) uint64 {
	a := (*next + align - 1) &^ (align - 1)
	*next = a + n
	if *next > uint64(len(d.ram)) {
		d.t.Fatal("stress guest RAM exhausted")
	}
	return a
}

func (d *stressDriver) reg(off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	d.m.Write(off, b[:])
}

func (d *stressDriver) readReg(off uint64) uint32 {
	var b [4]byte
	d.m.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// setup lays out the queues and buffers and brings the device up through
// its registers (virtio 1.2 §3.1.1, §4.2.3).
func (d *stressDriver) setup() {
	next := uint64(0x1000)
	queues := make([][3]uint64, 2)
	for q := range queues {
		queues[q] = [3]uint64{
			d.alloc(&next, 16*stressRing, 16),
			d.alloc(&next, 4+2*stressRing+4, 4),
			d.alloc(&next, 4+8*stressRing+4, 4),
		}
	}
	d.desc, d.avail, d.used = queues[RxQueue][0], queues[RxQueue][1], queues[RxQueue][2]
	d.slots = make([]slot, stressRing)
	for i := range d.slots {
		s := &d.slots[i]
		for _, n := range d.mode.bufs {
			g := d.alloc(&next, guardLen+uint64(n)+guardLen, 8)
			for j := range uint64(guardLen) {
				d.ram[g+j] = guardByte
				d.ram[g+guardLen+uint64(n)+j] = guardByte
			}
			s.pieces = append(s.pieces, piece{g + guardLen, uint64(n)})
			s.cap += uint64(n)
		}
		if len(s.pieces) > 1 {
			s.table = d.alloc(&next, 16*uint64(len(s.pieces)), 16)
		}
	}

	d.reg(0x070, virtio.StatusAcknowledge|virtio.StatusDriver)
	acked := d.mode.acked | virtio.FeatureVersion1
	for sel := range uint32(2) {
		d.reg(0x024, sel)
		d.reg(0x020, uint32(acked>>(32*sel)))
	}
	d.reg(0x070, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	for q, a := range queues {
		d.reg(0x030, uint32(q))
		d.reg(0x038, stressRing)
		for i, off := range []uint64{0x080, 0x090, 0x0a0} {
			d.reg(off, uint32(a[i]))
			d.reg(off+4, uint32(a[i]>>32))
		}
		d.reg(0x044, 1)
	}
	d.reg(0x070, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	if st := d.readReg(0x070); st&virtio.StatusDriverOK == 0 || st&virtio.StatusDeviceNeedsReset != 0 {
		d.t.Fatalf("device status %#x after DRIVER_OK: %v", st, d.m.Broken())
	}
	d.cbEnabled = true
	d.lastSeq = -1
}

// post makes slot i available, after checking that the device left it
// alone since it was used (still poisoned).
func (d *stressDriver) post(i int) {
	s := &d.slots[i]
	for _, p := range s.pieces {
		if b := d.ram[p.addr : p.addr+p.n]; s.used && bytes.Count(b, []byte{poisonByte}) != len(b) {
			d.fail("slot %d written by the device after it was used", i)
		}
	}
	if len(s.pieces) == 1 {
		d.putDesc(d.desc+16*uint64(i), s.pieces[0].addr, uint32(s.pieces[0].n), virtiotestWrite, 0)
	} else {
		for j, p := range s.pieces {
			flags := uint16(virtiotestWrite)
			if j < len(s.pieces)-1 {
				flags |= 1 // NEXT
			}
			d.putDesc(s.table+16*uint64(j), p.addr, uint32(p.n), flags, uint16(j+1))
		}
		d.putDesc(d.desc+16*uint64(i), s.table, uint32(16*len(s.pieces)), 4, 0) // INDIRECT
	}
	binary.LittleEndian.PutUint16(d.ram[d.avail+4+2*uint64(d.availIdx%stressRing):], uint16(i))
	d.availIdx++
	d.posts++
	s.posted = true
}

const virtiotestWrite = 2

var poison = func() (p [4096]byte) {
	for i := range p {
		p[i] = poisonByte
	}
	return p
}()

func (d *stressDriver) putDesc(at, addr uint64, n uint32, flags, next uint16) {
	b := d.ram[at:]
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// refill posts up to n free slots, publishes them and kicks as Linux's
// virtqueue_kick_prepare decides (virtio 1.2 §2.7.10, §2.7.13.4).
func (d *stressDriver) refill(n int) {
	added := 0
	for i := range d.slots {
		if added == n {
			break
		}
		if !d.slots[i].posted {
			d.post(i)
			added++
		}
	}
	if added == 0 {
		return
	}
	d.setAvail(d.availFlags())
	old, cur := d.kickedAt, d.availIdx
	d.kickedAt = cur
	kick := true
	if d.mode.acked&virtio.FeatureEventIdx != 0 {
		ev := d.availEvent()
		kick = cur-ev-1 < cur-old
	}
	if kick {
		d.m.Kick(RxQueue)
	}
}

func (d *stressDriver) availFlags() uint16 {
	if !d.cbEnabled && d.mode.acked&virtio.FeatureEventIdx == 0 {
		return 1 // VRING_AVAIL_F_NO_INTERRUPT
	}
	return 0
}

// take returns used element i and checks it against the posted slots.
func (d *stressDriver) take(i uint16) (*slot, int, uint64, bool) {
	e := d.ram[d.used+4+8*uint64(i%stressRing):]
	id, n := binary.LittleEndian.Uint32(e[0:]), uint64(binary.LittleEndian.Uint32(e[4:]))
	if id >= stressRing || !d.slots[id].posted {
		d.fail("used element %d names chain %d, which is not posted", i, id)
		return nil, 0, 0, false
	}
	s := &d.slots[id]
	if n > s.cap {
		d.fail("used length %d above the %d-byte chain %d", n, s.cap, id)
		return nil, 0, 0, false
	}
	for _, p := range s.pieces {
		lo, hi := d.ram[p.addr-guardLen:p.addr], d.ram[p.addr+p.n:p.addr+p.n+guardLen]
		if bytes.Count(lo, []byte{guardByte}) != guardLen || bytes.Count(hi, []byte{guardByte}) != guardLen {
			d.fail("guard bytes around chain %d overwritten", id)
		}
	}
	return s, int(id), n, true
}

// read copies n bytes out of slot s and poisons the slot.
func (d *stressDriver) read(s *slot, n uint64) []byte {
	var out []byte
	for _, p := range s.pieces {
		k := min(n, p.n)
		out = append(out, d.ram[p.addr:p.addr+k]...)
		n -= k
	}
	for _, p := range s.pieces {
		for b := d.ram[p.addr : p.addr+p.n]; len(b) > 0; {
			b = b[copy(b, poison[:]):]
		}
	}
	s.posted, s.used = false, true
	return out
}

// receiveOne consumes one packet at lastUsed; it reports false when the
// used ring holds no packet, or only part of one.
func (d *stressDriver) receiveOne(usedIdx uint16) bool {
	if usedIdx == d.lastUsed {
		return false
	}
	s, _, n, ok := d.take(d.lastUsed)
	if !ok {
		return false
	}
	if n < HeaderLen+minFrame {
		d.fail("used length %d shorter than a header and frame", n)
		return false
	}
	pkt := d.read(s, n)
	d.lastUsed++
	h, _ := ParseHeader(pkt)
	if d.mode.acked&FeatureMrgRxbuf != 0 {
		nb := h.NumBuffers
		// virtio 1.2 §5.1.6.4.2: all num_buffers buffers are used
		// together; Linux counts a rx_length_error and drops the
		// packet when they are not all there.
		if avail := uint16(usedIdx - d.lastUsed + 1); nb == 0 || nb > avail {
			d.fail("num_buffers %d, but only %d used buffers visible (packet published in parts)", nb, avail)
			return false
		}
		for range nb - 1 {
			s2, _, n2, ok := d.take(d.lastUsed)
			if !ok {
				return false
			}
			pkt = append(pkt, d.read(s2, n2)...)
			d.lastUsed++
		}
	} else if h.NumBuffers != 1 {
		d.fail("num_buffers %d without MRG_RXBUF", h.NumBuffers)
	}
	d.check(h, pkt[HeaderLen:])
	d.received.Add(1)
	return true
}

// check compares a received frame with what the host sent.
func (d *stressDriver) check(h Header, f []byte) {
	if len(f) < 18 {
		d.fail("frame of %d bytes", len(f))
		return
	}
	seq := binary.BigEndian.Uint32(f[14:])
	if int64(seq) <= d.lastSeq {
		d.fail("frame %d after frame %d", seq, d.lastSeq)
	}
	d.lastSeq = int64(seq)
	n, want := frameKind(seq, d.mode.acked&FeatureGuestTSO4 != 0)
	want.NumBuffers = h.NumBuffers
	if want.Flags&HdrFDataValid != 0 && d.mode.acked&FeatureGuestCsum == 0 {
		want.Flags = 0
	}
	if h != want {
		d.fail("frame %d: header %+v, want %+v", seq, h, want)
	}
	if !bytes.Equal(f, stressFrame(seq, n)) {
		d.fail("frame %d: %d bytes, contents differ from the %d sent", seq, len(f), n)
	}
}

// run is the driver's interrupt handler and NAPI poll loop, as Linux's
// vm_interrupt, vring_interrupt and virtnet_poll do it, until stop closes.
func (d *stressDriver) run(stop <-chan struct{}, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	d.refill(stressRing)
	suspect := -1 // used idx seen unsignalled at the last timeout
	for {
		select {
		case <-stop:
			return
		case <-d.irq:
			suspect = -1
		case <-time.After(irqLostWait):
			// A real guest never polls: buffers used with
			// interrupts enabled and no interrupt is a stall. The
			// device may have been preempted between its push and
			// its interrupt just now, so only the same used idx
			// still unsignalled a whole wait later counts.
			if u := int(d.usedIdx()); d.cbEnabled && u != int(d.lastUsed) {
				if u == suspect {
					d.fail("used idx %d, driver at %d with interrupts enabled, and no interrupt for %v", u, d.lastUsed, 2*irqLostWait)
				}
				suspect = u
			}
			continue
		}
		isr := d.readReg(0x060)
		d.reg(0x064, isr)
		if isr&virtio.InterruptUsedBuffer == 0 || d.usedIdx() == d.lastUsed {
			continue // spurious, or no work: vring_interrupt's IRQ_NONE
		}
		// virtqueue_disable_cb, then poll.
		d.cbEnabled = false
		d.setAvail(d.availFlags())
		for {
			got := 0
			for u := d.usedIdx(); got < 64 && d.receiveOne(u); u = d.usedIdx() {
				got++
			}
			if d.failures.Load() != 0 {
				return
			}
			// Repost, now and then late or only in part, so the
			// device meets an empty or short ring.
			switch r := rng.IntN(16); {
			case r == 0:
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				d.refill(stressRing)
			case r < 4:
				d.refill(rng.IntN(8))
			default:
				d.refill(stressRing)
			}
			if got == 64 {
				continue
			}
			// virtqueue_enable_cb_prepare and virtqueue_poll.
			d.cbEnabled = true
			if d.mode.acked&virtio.FeatureEventIdx != 0 {
				d.setUsedEvent(d.lastUsed)
			}
			d.setAvail(d.availFlags())
			if d.usedIdx() == d.lastUsed {
				break
			}
			d.cbEnabled = false
			d.setAvail(d.availFlags())
		}
		// A ring left short above is topped up before sleeping, as
		// Linux's refill work does.
		d.refill(stressRing)
	}
}

func TestReceiveStress(t *testing.T) {
	frames := 2000
	if testing.Short() {
		frames = 600
	}
	for _, mode := range stressModes() {
		n := frames
		if mode.bufs[0] == 1536 {
			// Enough 64 KiB frames in MTU-sized buffers that the
			// 16-bit ring indices wrap (avail, used, both events).
			n *= 3
		}
		t.Run(mode.name, func(t *testing.T) {
			posts := receiveStress(t, mode, n)
			if !testing.Short() && mode.bufs[0] == 1536 && posts <= 1<<16 {
				t.Errorf("%d chains posted: the ring indices did not wrap", posts)
			}
		})
	}
}

func receiveStress(t *testing.T, mode stressMode, frames int) (posts uint64) {
	tap, host := tapPair(t)
	dev, err := newDevice(tap, Options{MAC: [6]byte{2, 0, 0, 0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	ram := guestRAM(t, 64<<20)
	d := &stressDriver{t: t, mode: mode, ram: ram, irq: make(irqChan, 1)}
	d.m = virtio.NewMMIO(dev, d.irq)
	d.m.SetMemory(memory.FromBytes(ram))
	d.setup()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.run(stop, uint64(len(mode.name))) }()
	var sent atomic.Uint64
	go func() {
		defer wg.Done()
		tso := mode.acked&FeatureGuestTSO4 != 0
		for seq := range uint32(frames) {
			n, h := frameKind(seq, tso)
			hb := make([]byte, HeaderLen)
			h.Put(hb)
			if err := host.SetWriteDeadline(time.Now().Add(stallLimit)); err != nil {
				d.fail("host: %v", err)
				return
			}
			if _, err := host.Write(append(hb, stressFrame(seq, n)...)); err != nil {
				d.fail("host write of frame %d: device stopped reading the tap: %v", seq, err)
				return
			}
			sent.Add(1)
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); wg.Wait(); dev.Reset() }) }
	defer halt()

	// Every frame sent is received or counted as dropped; progress never
	// stops for stallLimit.
	last, lastMove := uint64(0), time.Now()
	for {
		done := d.received.Load() + dev.Counters().RxDropped
		if d.failures.Load() != 0 {
			break
		}
		if done == uint64(frames) {
			break
		}
		if done != last {
			last, lastMove = done, time.Now()
		} else if time.Since(lastMove) > stallLimit {
			d.fail("delivery stalled: %d sent, %d received, counters %+v", sent.Load(), d.received.Load(), dev.Counters())
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	halt() // the driver's state is ours from here
	c := dev.Counters()
	if d.failures.Load() != 0 {
		t.Fatalf("%s (%d failures); counters %+v, received %d", d.failFirst, d.failures.Load(), c, d.received.Load())
	}
	if c.RxPackets != d.received.Load() {
		t.Errorf("device counted %d packets, driver received %d", c.RxPackets, d.received.Load())
	}
	t.Logf("%d frames: %d received, %d dropped (no receive buffer within %v); used idx %d (ring went round %d times)",
		frames, d.received.Load(), c.RxDropped, rxWait, d.usedIdx(), d.posts/stressRing)
	return d.posts
}

// TestReceiveMergeablePublishedWhole watches used idx from another
// goroutine, as a guest polling in NAPI does, while 64 KiB frames land in
// MTU-sized mergeable buffers: every used idx it sees must end a packet
// (virtio 1.2 §5.1.6.4.2).
func TestReceiveMergeablePublishedWhole(t *testing.T) {
	tap, host := tapPair(t)
	dev, err := newDevice(tap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ram := guestRAM(t, 16<<20)
	mode := stressMode{acked: FeatureMrgRxbuf | FeatureGuestCsum | FeatureGuestTSO4, bufs: []int{1536}}
	d := &stressDriver{t: t, mode: mode, ram: ram, irq: make(irqChan, 1)}
	d.m = virtio.NewMMIO(dev, d.irq)
	d.m.SetMemory(memory.FromBytes(ram))
	d.setup()
	t.Cleanup(dev.Reset)
	d.refill(stressRing)

	const frames = 5 // 5 frames of 44 buffers fit the ring of 256
	per := uint16((HeaderLen + stressGSO + 1535) / 1536)
	seen := make(chan []uint16, 1)
	go func() {
		var idx []uint16
		last := uint16(0)
		for deadline := time.Now().Add(waitTime); last != frames*per && time.Now().Before(deadline); {
			if u := d.usedIdx(); u != last {
				idx, last = append(idx, u), u
			}
		}
		seen <- idx
	}()
	_, h := frameKind(0, true)
	for seq := range uint32(frames) {
		hb := make([]byte, HeaderLen)
		h.Put(hb)
		if _, err := host.Write(append(hb, stressFrame(seq, stressGSO)...)); err != nil {
			t.Fatal(err)
		}
	}
	idx := <-seen
	if len(idx) == 0 || idx[len(idx)-1] != frames*per {
		t.Fatalf("used idx went %v, want to reach %d; counters %+v", idx, frames*per, dev.Counters())
	}
	for _, u := range idx {
		if u%per != 0 {
			t.Fatalf("used idx went %v: %d is inside a packet of %d buffers", idx, u, per)
		}
	}
}

// TestReceiveResetUnderLoad resets the device through its status register
// while the host keeps sending: once the reset write returns, the device
// must not touch guest memory (virtio 1.2 §2.4.1: the device MUST NOT
// use buffers or send notifications after a reset).
func TestReceiveResetUnderLoad(t *testing.T) {
	tap, host := tapPair(t)
	dev, err := newDevice(tap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ram := guestRAM(t, 16<<20)
	mode := stressMode{acked: virtio.FeatureEventIdx | FeatureMrgRxbuf | FeatureGuestCsum | FeatureGuestTSO4, bufs: []int{1536}}
	d := &stressDriver{t: t, mode: mode, ram: ram, irq: make(irqChan, 1)}
	d.m = virtio.NewMMIO(dev, d.irq)
	d.m.SetMemory(memory.FromBytes(ram))
	d.setup()
	t.Cleanup(dev.Reset)

	stopDriver, stopHost := make(chan struct{}), make(chan struct{})
	driverDone, hostDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(driverDone); d.run(stopDriver, 7) }()
	go func() {
		defer close(hostDone)
		for seq := uint32(0); ; seq++ {
			select {
			case <-stopHost:
				return
			default:
			}
			n, h := frameKind(seq, true)
			hb := make([]byte, HeaderLen)
			h.Put(hb)
			_ = host.SetWriteDeadline(time.Now().Add(rxWait))
			_, _ = host.Write(append(hb, stressFrame(seq, n)...)) // a full socket after the reset is expected
		}
	}()
	for deadline := time.Now().Add(waitTime); d.received.Load() < 200; {
		if time.Now().After(deadline) || d.failures.Load() != 0 {
			t.Fatalf("before the reset: %d received: %s", d.received.Load(), d.failFirst)
		}
		runtime.Gosched()
	}
	close(stopDriver)
	<-driverDone
	d.reg(0x070, 0) // reset, while frames keep coming
	if st := d.readReg(0x070); st != 0 {
		t.Fatalf("status %#x after reset", st)
	}
	// Poison everything the device could write: buffers, used ring,
	// avail_event.
	for i := range d.slots {
		for _, p := range d.slots[i].pieces {
			for b := ram[p.addr : p.addr+p.n]; len(b) > 0; {
				b = b[copy(b, poison[:]):]
			}
		}
	}
	usedRing := ram[d.used : d.used+4+8*stressRing+2]
	for i := range usedRing {
		usedRing[i] = poisonByte
	}
	isr := d.readReg(0x060)
	irqs := len(d.irq)
	// Let the host push frames at the reset device for a while: 20 more
	// writes, each bounded by rxWait.
	for range 20 {
		hb := make([]byte, HeaderLen)
		_ = host.SetWriteDeadline(time.Now().Add(rxWait))
		_, _ = host.Write(append(hb, stressFrame(0, 60)...))
	}
	close(stopHost)
	<-hostDone
	for i := range d.slots {
		for _, p := range d.slots[i].pieces {
			if b := ram[p.addr : p.addr+p.n]; bytes.Count(b, []byte{poisonByte}) != len(b) {
				t.Fatalf("chain %d written after the reset", i)
			}
		}
	}
	if bytes.Count(usedRing, []byte{poisonByte}) != len(usedRing) {
		t.Fatal("used ring written after the reset")
	}
	if isr != 0 || len(d.irq) > irqs {
		t.Fatalf("interrupt after the reset: ISR %#x, %d pending", isr, len(d.irq))
	}
	t.Logf("%d frames received before the reset; counters %+v", d.received.Load(), dev.Counters())
}
