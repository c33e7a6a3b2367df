package virtio_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

const ramSize = 1 << 20

func newRing(t *testing.T, size uint16, features uint64) (*virtiotest.Ring, *virtio.Queue) {
	t.Helper()
	g := virtiotest.NewGuest(ramSize)
	r := g.NewRing(size)
	q, err := r.Queue(features)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	return r, q
}

// popBroken pops once and requires the queue to be broken.
func popBroken(t *testing.T, q *virtio.Queue) {
	t.Helper()
	c, err := q.Pop()
	if !errors.Is(err, virtio.ErrQueueBroken) {
		t.Fatalf("Pop = %v, %v; want ErrQueueBroken", c, err)
	}
	t.Logf("rejected: %v", err)
	if c2, err2 := q.Pop(); c2 != nil || err2 == nil {
		t.Fatalf("broken queue popped again: %v, %v", c2, err2)
	}
	if err := q.Push(0, 0); err == nil {
		t.Fatal("broken queue accepted Push")
	}
}

func TestPopReadWritePush(t *testing.T) {
	r, q := newRing(t, 8, 0)
	in := r.G.In([]byte("hello, "))
	in2 := r.G.In([]byte("device"))
	out := r.G.Out(16, 0xAA)
	head := r.AddChain(in, in2, out)
	if c, err := q.Pop(); c != nil || err != nil {
		t.Fatalf("Pop before publish = %v, %v", c, err)
	}
	r.Publish(head)
	if !q.Pending() {
		t.Fatal("Pending = false after publish")
	}
	c, err := q.Pop()
	if err != nil || c == nil {
		t.Fatalf("Pop = %v, %v", c, err)
	}
	if c.Head != head || len(c.Readable()) != 2 || len(c.Writable()) != 1 || c.ReadLen() != 13 || c.WriteLen() != 16 {
		t.Fatalf("chain = %+v", c)
	}
	got, err := io.ReadAll(virtio.NewReader(r.G.Mem, c))
	if err != nil || string(got) != "hello, device" {
		t.Fatalf("read %q, %v", got, err)
	}
	w := virtio.NewWriter(r.G.Mem, c)
	if _, err := w.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 12)); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("overlong write err = %v", err)
	}
	if w.Written() != 16 {
		t.Fatalf("Written = %d", w.Written())
	}
	if !bytes.HasPrefix(r.G.Bytes(out.Addr, 16), []byte("reply")) {
		t.Fatalf("guest sees %q", r.G.Bytes(out.Addr, 16))
	}
	if err := q.Push(c.Head, w.Written()); err != nil {
		t.Fatal(err)
	}
	if id, ln := r.Used(0); r.UsedIdx() != 1 || id != uint32(head) || ln != 16 {
		t.Fatalf("used idx %d elem (%d,%d)", r.UsedIdx(), id, ln)
	}
	if !q.NeedsInterrupt() {
		t.Fatal("NeedsInterrupt = false after Push")
	}
	if q.NeedsInterrupt() {
		t.Fatal("NeedsInterrupt = true with nothing new")
	}
	if c, err := q.Pop(); c != nil || err != nil {
		t.Fatalf("second Pop = %v, %v", c, err)
	}
}

func TestNoInterruptFlag(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.SetAvailFlags(1)
	r.Publish(r.AddChain(r.G.Out(4, 0)))
	c, _ := q.Pop()
	_ = q.Push(c.Head, 0)
	if q.NeedsInterrupt() {
		t.Fatal("NeedsInterrupt ignores VIRTQ_AVAIL_F_NO_INTERRUPT")
	}
}

func TestEventIdx(t *testing.T) {
	r, q := newRing(t, 8, virtio.FeatureEventIdx)
	for i := range 3 {
		r.Publish(r.AddChain(r.G.Out(4, 0)))
		_ = i
	}
	r.SetUsedEvent(1) // interrupt once used idx passes 1
	for i := range 3 {
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("Pop %d = %v, %v", i, c, err)
		}
		if got := r.AvailEvent(); got != uint16(i+1) {
			t.Fatalf("avail_event = %d after %d pops", got, i+1)
		}
		_ = q.Push(c.Head, 0)
		want := i == 1 // used idx moved 1 -> 2, crossing used_event 1
		if got := q.NeedsInterrupt(); got != want {
			t.Fatalf("after push %d NeedsInterrupt = %v, want %v", i, got, want)
		}
	}
}

func TestIndexWrapAround(t *testing.T) {
	r, q := newRing(t, 4, 0)
	buf := r.G.Out(8, 0)
	for i := range 70000 {
		r.Publish(r.AddChain(buf))
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("iteration %d: Pop = %v, %v", i, c, err)
		}
		_ = q.Push(c.Head, 8)
	}
	if r.UsedIdx() != uint16(70000%65536) {
		t.Fatalf("used idx = %d", r.UsedIdx())
	}
}

func TestIndirect(t *testing.T) {
	r, q := newRing(t, 4, virtio.FeatureIndirectDesc)
	in := r.G.In([]byte("abc"))
	out := r.G.Out(5, 0)
	r.Publish(r.AddIndirect(in, out))
	c, err := q.Pop()
	if err != nil || c == nil {
		t.Fatalf("Pop = %v, %v", c, err)
	}
	if len(c.Descs) != 2 || c.Descs[0] != (virtio.Desc{Addr: in.Addr, Len: 3}) || c.Descs[1] != (virtio.Desc{Addr: out.Addr, Len: 5, Write: true}) {
		t.Fatalf("descs = %+v", c.Descs)
	}
}

func TestIndirectWithoutFeatureIsRejected(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.Publish(r.AddIndirect(r.G.Out(4, 0)))
	popBroken(t, q)
}

func TestNestedIndirectIsRejected(t *testing.T) {
	r, q := newRing(t, 4, virtio.FeatureIndirectDesc)
	inner := r.G.Alloc(16, 16)
	outer := r.G.Alloc(16, 16)
	// The outer table's only entry points at another indirect table.
	putDesc(r.G.RAM[outer:], inner, 16, virtiotest.FlagIndirect, 0)
	r.SetDesc(0, outer, 16, virtiotest.FlagIndirect, 0)
	r.Publish(0)
	popBroken(t, q)
}

func TestIndirectLoopIsRejected(t *testing.T) {
	r, q := newRing(t, 4, virtio.FeatureIndirectDesc)
	buf := r.G.Out(4, 0)
	table := r.G.Alloc(32, 16)
	putDesc(r.G.RAM[table:], buf.Addr, 4, virtiotest.FlagNext|virtiotest.FlagWrite, 1)
	putDesc(r.G.RAM[table+16:], buf.Addr, 4, virtiotest.FlagNext|virtiotest.FlagWrite, 0)
	r.SetDesc(0, table, 32, virtiotest.FlagIndirect, 0)
	r.Publish(0)
	popBroken(t, q)
}

func TestIndirectBadTable(t *testing.T) {
	for name, set := range map[string]func(r *virtiotest.Ring){
		"length not multiple of 16": func(r *virtiotest.Ring) { r.SetDesc(0, 0x2000, 20, virtiotest.FlagIndirect, 0) },
		"zero length":               func(r *virtiotest.Ring) { r.SetDesc(0, 0x2000, 0, virtiotest.FlagIndirect, 0) },
		"outside RAM":               func(r *virtiotest.Ring) { r.SetDesc(0, ramSize-16, 32, virtiotest.FlagIndirect, 0) },
		"with NEXT":                 func(r *virtiotest.Ring) { r.SetDesc(0, 0x2000, 16, virtiotest.FlagIndirect|virtiotest.FlagNext, 1) },
		"too many entries": func(r *virtiotest.Ring) {
			r.SetDesc(0, 0x2000, 16*(virtio.MaxIndirectDescs+1), virtiotest.FlagIndirect, 0)
		},
		"next out of range": func(r *virtiotest.Ring) {
			putDesc(r.G.RAM[0x2000:], 0x3000, 4, virtiotest.FlagNext, 5)
			r.SetDesc(0, 0x2000, 16, virtiotest.FlagIndirect, 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, q := newRing(t, 4, virtio.FeatureIndirectDesc)
			set(r)
			r.Publish(0)
			popBroken(t, q)
		})
	}
}

func TestSplitAt(t *testing.T) {
	ds := []virtio.Desc{{Addr: 100, Len: 10}, {Addr: 200, Len: 6}, {Addr: 300, Len: 4}}
	for _, tc := range []struct {
		n          uint64
		head, tail int
		hl, tl     uint64
	}{
		{0, 0, 3, 0, 20}, {10, 1, 2, 10, 10}, {12, 2, 2, 12, 8}, {20, 3, 0, 20, 0}, {99, 3, 0, 20, 0},
	} {
		h, tl := virtio.SplitAt(ds, tc.n)
		if len(h) != tc.head || len(tl) != tc.tail || virtio.TotalLen(h) != tc.hl || virtio.TotalLen(tl) != tc.tl {
			t.Errorf("SplitAt(%d) = %+v, %+v", tc.n, h, tl)
		}
	}
	h, tl := virtio.SplitAt(ds, 12)
	if h[1] != (virtio.Desc{Addr: 200, Len: 2}) || tl[0] != (virtio.Desc{Addr: 202, Len: 4}) {
		t.Errorf("straddling split = %+v, %+v", h, tl)
	}
	if ds[1].Len != 6 {
		t.Error("SplitAt modified its input")
	}
}

func TestEventIdxArmedWhenEmpty(t *testing.T) {
	r, q := newRing(t, 8, virtio.FeatureEventIdx)
	// A fresh queue: the driver must be asked to kick at avail idx 0...
	if c, err := q.Pop(); c != nil || err != nil {
		t.Fatalf("Pop = %v, %v", c, err)
	}
	if r.AvailEvent() != 0 {
		t.Fatalf("avail_event = %d", r.AvailEvent())
	}
	// ...and after draining, at the next entry.
	r.Publish(r.AddChain(r.G.Out(4, 0)), r.AddChain(r.G.Out(4, 0)))
	for range 2 {
		if c, err := q.Pop(); c == nil || err != nil {
			t.Fatalf("Pop = %v, %v", c, err)
		}
	}
	if c, _ := q.Pop(); c != nil || r.AvailEvent() != 2 {
		t.Fatalf("avail_event = %d after draining 2", r.AvailEvent())
	}
}

func TestRequestQueue(t *testing.T) {
	var rq virtio.RequestQueue
	n := virtiotest.NewNotifier()
	serve := func(_ *memory.Memory, c *virtio.Chain) uint32 { return uint32(c.WriteLen()) }
	if err := rq.Serve(0, serve); err != nil {
		t.Fatalf("Serve before Activate: %v", err)
	}
	if err := rq.Activate(nil, []*virtio.Queue{nil}, n.Notify, 0); err == nil {
		t.Fatal("activated without a queue")
	}
	r, q := newRing(t, 4, 0)
	if err := rq.Activate(r.G.Mem, []*virtio.Queue{q}, n.Notify, 0); err != nil {
		t.Fatal(err)
	}
	r.Publish(r.AddChain(r.G.Out(7, 0)), r.AddChain(r.G.Out(3, 0)))
	if err := rq.Serve(0, serve); err != nil {
		t.Fatal(err)
	}
	if _, ln := r.Used(1); r.UsedIdx() != 2 || ln != 3 || n.Count(0) != 1 {
		t.Fatalf("used idx %d len %d notifications %d", r.UsedIdx(), ln, n.Count(0))
	}
	rq.Reset()
	r.Publish(r.AddChain(r.G.Out(1, 0)))
	_ = rq.Serve(0, serve)
	if r.UsedIdx() != 2 {
		t.Fatal("served after Reset")
	}
}
