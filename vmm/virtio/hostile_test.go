package virtio_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// The hostile cases of DESIGN.md ("Bad input"), one named test each.

func putDesc(b []byte, addr uint64, ln uint32, flags, next uint16) {
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], ln)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

func TestDescriptorOutsideRAM(t *testing.T) {
	for name, d := range map[string]struct {
		addr uint64
		ln   uint32
	}{
		"starts past end":    {ramSize, 1},
		"straddles end":      {ramSize - 4, 8},
		"far away":           {1 << 40, 16},
		"max address":        {math.MaxUint64, 1},
		"zero length at end": {ramSize + 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			r, q := newRing(t, 4, 0)
			r.SetDesc(0, d.addr, d.ln, virtiotest.FlagWrite, 0)
			r.Publish(0)
			popBroken(t, q)
		})
	}
}

func TestAddrLenOverflow(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.SetDesc(0, math.MaxUint64-8, 0x100, 0, 0)
	r.Publish(0)
	popBroken(t, q)
}

func TestChainLoopIsRejected(t *testing.T) {
	for name, build := range map[string]func(r *virtiotest.Ring, buf uint64){
		"self loop": func(r *virtiotest.Ring, buf uint64) {
			r.SetDesc(0, buf, 4, virtiotest.FlagNext, 0)
		},
		"two-cycle": func(r *virtiotest.Ring, buf uint64) {
			r.SetDesc(0, buf, 4, virtiotest.FlagNext, 1)
			r.SetDesc(1, buf, 4, virtiotest.FlagNext, 0)
		},
		"tail loop": func(r *virtiotest.Ring, buf uint64) {
			for i := uint16(0); i < 8; i++ {
				r.SetDesc(i, buf, 4, virtiotest.FlagNext, i+1)
			}
			r.SetDesc(8, buf, 4, virtiotest.FlagNext, 3)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, q := newRing(t, 16, 0)
			build(r, r.G.Alloc(4, 8))
			r.Publish(0)
			popBroken(t, q)
		})
	}
}

func TestNextOutOfRange(t *testing.T) {
	r, q := newRing(t, 4, 0)
	buf := r.G.Alloc(4, 8)
	r.SetDesc(0, buf, 4, virtiotest.FlagNext, 4) // queue size 4: 0..3
	r.Publish(0)
	popBroken(t, q)
}

func TestHeadOutOfRange(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.Publish(9)
	popBroken(t, q)
}

func TestHugeLength(t *testing.T) {
	t.Run("single descriptor", func(t *testing.T) {
		r, q := newRing(t, 4, 0)
		r.SetDesc(0, 0x1000, math.MaxUint32, virtiotest.FlagWrite, 0)
		r.Publish(0)
		popBroken(t, q)
	})
	t.Run("sum over cap", func(t *testing.T) {
		// 300 MiB of RAM so each descriptor is legal; 2 of them exceed
		// MaxChainBytes.
		ram := make([]byte, 300<<20)
		g := &virtiotest.Guest{RAM: ram, Mem: memory.FromBytes(ram)}
		r := g.NewRing(4)
		q, err := r.Queue(0)
		if err != nil {
			t.Fatal(err)
		}
		r.SetDesc(0, 0x100000, 200<<20, virtiotest.FlagNext|virtiotest.FlagWrite, 1)
		r.SetDesc(1, 0x100000, 200<<20, virtiotest.FlagWrite, 0)
		r.Publish(0)
		popBroken(t, q)
	})
}

func TestReadableAfterWritableIsRejected(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.Publish(r.AddChain(r.G.Out(4, 0), r.G.In([]byte("x"))))
	popBroken(t, q)
}

func TestAvailIdxJump(t *testing.T) {
	r, q := newRing(t, 4, 0)
	r.SetAvailIdx(5) // 5 entries ahead of a 4-entry queue
	popBroken(t, q)
}

func TestRewriteAfterValidation(t *testing.T) {
	r, q := newRing(t, 4, virtio.FeatureIndirectDesc)
	out := r.G.Out(8, 0)
	head := r.AddChain(out)
	r.Publish(head)
	c, err := q.Pop()
	if err != nil {
		t.Fatal(err)
	}
	// The guest now points the descriptor far outside RAM and makes it
	// huge; the device keeps using the validated copy.
	r.SetDesc(head, 1<<40, math.MaxUint32, virtiotest.FlagWrite, 0)
	w := virtio.NewWriter(r.G.Mem, c)
	if _, err := w.Write([]byte("12345678")); err != nil {
		t.Fatalf("write to validated chain: %v", err)
	}
	if string(r.G.Bytes(out.Addr, 8)) != "12345678" || c.Descs[0].Addr != out.Addr || c.Descs[0].Len != 8 {
		t.Fatalf("chain changed after validation: %+v", c.Descs)
	}
	// Same for an indirect table rewritten after Pop.
	in := r.G.In([]byte("data"))
	head = r.AddIndirect(in)
	r.Publish(head)
	c, err = q.Pop()
	if err != nil {
		t.Fatal(err)
	}
	tableAddr := binary.LittleEndian.Uint64(r.G.RAM[r.Config.Desc+16*uint64(head):])
	putDesc(r.G.RAM[tableAddr:], 1<<40, 99, 0, 0)
	if c.Descs[0] != (virtio.Desc{Addr: in.Addr, Len: 4}) {
		t.Fatalf("indirect chain changed after validation: %+v", c.Descs)
	}
}

func TestQueueConfigAbuse(t *testing.T) {
	good := virtio.QueueConfig{Size: 8, Desc: 0x1000, Avail: 0x2000, Used: 0x3000}
	for name, mod := range map[string]func(c *virtio.QueueConfig){
		"size zero":           func(c *virtio.QueueConfig) { c.Size = 0 },
		"size not power of 2": func(c *virtio.QueueConfig) { c.Size = 6 },
		"size above max":      func(c *virtio.QueueConfig) { c.Size = 16 },
		"desc misaligned":     func(c *virtio.QueueConfig) { c.Desc = 0x1008 },
		"avail misaligned":    func(c *virtio.QueueConfig) { c.Avail = 0x2001 },
		"used misaligned":     func(c *virtio.QueueConfig) { c.Used = 0x3002 },
		"desc outside RAM":    func(c *virtio.QueueConfig) { c.Desc = ramSize },
		"desc straddles end":  func(c *virtio.QueueConfig) { c.Desc = ramSize - 64 },
		"avail outside RAM":   func(c *virtio.QueueConfig) { c.Avail = 1 << 40 },
		"used straddles end":  func(c *virtio.QueueConfig) { c.Used = ramSize - 32 },
		"desc wraps":          func(c *virtio.QueueConfig) { c.Desc = math.MaxUint64 - 15 },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			mod(&c)
			q, err := virtio.NewQueue(memory.FromBytes(make([]byte, ramSize)), c, 8, 0, nil)
			if !errors.Is(err, virtio.ErrQueueBroken) || q != nil {
				t.Fatalf("NewQueue(%+v) = %v, %v", c, q, err)
			}
		})
	}
	if _, err := virtio.NewQueue(memory.FromBytes(make([]byte, ramSize)), good, 8, 0, nil); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}

func TestOnBrokenCalledOnce(t *testing.T) {
	g := virtiotest.NewGuest(ramSize)
	r := g.NewRing(4)
	var calls []error
	q, err := virtio.NewQueue(g.Mem, r.Config, 4, 0, func(err error) { calls = append(calls, err) })
	if err != nil {
		t.Fatal(err)
	}
	r.SetAvailIdx(100)
	_, _ = q.Pop()
	_, _ = q.Pop()
	if len(calls) != 1 || q.Err() == nil || q.NeedsInterrupt() || q.Pending() {
		t.Fatalf("onBroken calls = %v, Err = %v", calls, q.Err())
	}
}
