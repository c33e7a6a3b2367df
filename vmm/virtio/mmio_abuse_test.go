package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

func TestQueueConfigAbuseThroughMMIO(t *testing.T) {
	for name, abuse := range map[string]func(b *bench, r *virtiotest.Ring){
		"size not power of 2": func(b *bench, r *virtiotest.Ring) { r.Config.Size = 6 },
		"size above max":      func(b *bench, r *virtiotest.Ring) { r.Config.Size = 16 },
		"size zero":           func(b *bench, r *virtiotest.Ring) { r.Config.Size = 0 },
		"desc outside RAM":    func(b *bench, r *virtiotest.Ring) { r.Config.Desc = 1 << 33 },
		"used outside RAM":    func(b *bench, r *virtiotest.Ring) { r.Config.Used = ramSize - 8 },
		"avail misaligned":    func(b *bench, r *virtiotest.Ring) { r.Config.Avail++ },
	} {
		t.Run(name, func(t *testing.T) {
			b := newBench(t)
			b.negotiate(virtio.FeatureVersion1)
			r := b.g.NewRing(8)
			abuse(b, r)
			b.setupQueue(0, r)
			if b.m.Broken() == nil || b.r(0x070)&virtio.StatusDeviceNeedsReset == 0 {
				t.Fatalf("accepted: status %#x", b.r(0x070))
			}
			if b.r(0x060)&virtio.InterruptConfigChange == 0 || b.irq.Count() != 1 {
				t.Fatalf("no config change interrupt: isr %#x irqs %d", b.r(0x060), b.irq.Count())
			}
			if b.r(0x044) != 0 {
				t.Fatal("QueueReady reads 1 for a refused queue")
			}
			b.w(0x070, statusAll)
			if b.dev.activations != 0 {
				t.Fatal("device activated after a refused queue")
			}
		})
	}
}

func TestQueueNumAbove16Bits(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1)
	r := b.g.NewRing(8)
	b.setupQueue(0, r)
	b.w(0x044, 0)
	b.w(0x038, 0x10008) // would truncate to 8
	b.w(0x044, 1)
	if b.m.Broken() == nil {
		t.Fatal("QueueNum 0x10008 accepted")
	}
}

func TestQueueRegistersFrozenWhenReady(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1)
	r := b.g.NewRing(8)
	b.setupQueue(0, r)
	// Rewrites while ready must be refused: point the rings at nonsense.
	b.w(0x038, 3)
	b.w(0x080, 0xdead0000)
	b.w(0x0a4, 0xffffffff)
	b.w(0x070, statusAll)
	if b.m.Broken() != nil || b.dev.activations != 1 {
		t.Fatalf("broken %v activations %d", b.m.Broken(), b.dev.activations)
	}
	if got := b.dev.queues[0].Size(); got != 8 {
		t.Fatalf("queue size %d", got)
	}
	// After DRIVER_OK: no disabling, no reprogramming, no new queues.
	b.w(0x044, 0)
	b.w(0x030, 1)
	b.setupQueue(1, b.g.NewRing(4))
	b.w(0x030, 0)
	if b.r(0x044) != 1 {
		t.Fatal("queue 0 disabled after DRIVER_OK")
	}
	b.w(0x030, 1)
	if b.r(0x044) != 0 {
		t.Fatal("queue 1 enabled after DRIVER_OK")
	}
	r.Publish(r.AddChain(b.g.Out(4, 0)))
	b.m.Kick(0)
	if r.UsedIdx() != 1 {
		t.Fatal("queue 0 stopped working")
	}
}

func TestQueueSelOutOfRange(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1)
	b.setupQueue(5, b.g.NewRing(8))
	if b.r(0x044) != 0 || b.r(0x034) != 0 || b.m.Broken() != nil {
		t.Fatalf("queue 5: ready %d max %d broken %v", b.r(0x044), b.r(0x034), b.m.Broken())
	}
}

func TestBrokenChainMarksNeedsReset(t *testing.T) {
	b := newBench(t)
	r := b.start()
	buf := b.g.Alloc(4, 8)
	r.SetDesc(0, buf, 4, virtiotest.FlagNext, 0) // self loop
	r.Publish(0)
	b.w(virtio.NotifyOffset, 0)
	if b.m.Broken() == nil || b.r(0x070)&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("loop not reported: status %#x", b.r(0x070))
	}
	if b.r(0x060) != virtio.InterruptConfigChange || b.irq.Count() != 1 {
		t.Fatalf("isr %#x irqs %d", b.r(0x060), b.irq.Count())
	}
	// Further kicks do nothing; the driver's status writes keep the bit.
	b.m.Kick(0)
	b.w(0x070, statusAll)
	if b.r(0x070)&virtio.StatusDeviceNeedsReset == 0 || len(b.dev.kicks) != 1 {
		t.Fatalf("status %#x kicks %v", b.r(0x070), b.dev.kicks)
	}
}

// FuzzMMIO drives the register file with operations chosen by the fuzzer
// (Cloud Hypervisor fuzz/ style): each 9-byte record is op, offset (2
// bytes), value (4 bytes), width selector, and a kick target. Nothing may
// panic; whatever happens, the transport must stay consistent.
func FuzzMMIO(f *testing.F) {
	seed := []byte{}
	rec := func(op byte, off uint16, v uint32) {
		var b [9]byte
		b[0] = op
		binary.LittleEndian.PutUint16(b[1:], off)
		binary.LittleEndian.PutUint32(b[3:], v)
		seed = append(seed, b[:]...)
	}
	rec(1, 0x70, 3)
	rec(1, 0x24, 1)
	rec(1, 0x20, 1)
	rec(1, 0x70, 11)
	rec(1, 0x38, 8)
	rec(1, 0x80, 0x1000)
	rec(1, 0x90, 0x1080)
	rec(1, 0xa0, 0x1100)
	rec(1, 0x44, 1)
	rec(1, 0x70, 15)
	rec(1, 0x50, 0)
	rec(0, 0x60, 0)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newBench(t)
		for len(data) >= 9 {
			op, off, v := data[0], uint64(binary.LittleEndian.Uint16(data[1:])), binary.LittleEndian.Uint32(data[3:])
			width := []int{4, 4, 4, 1, 2, 8}[int(data[7])%6]
			kick := int(int8(data[8]))
			data = data[9:]
			buf := make([]byte, 8)
			binary.LittleEndian.PutUint32(buf, v)
			buf = buf[:width]
			switch op % 4 {
			case 0:
				b.m.Read(off, buf)
			case 1:
				b.m.Write(off, buf)
			case 2:
				b.m.Kick(kick)
			case 3:
				// Scribble on the rings the seed uses.
				binary.LittleEndian.PutUint32(b.g.RAM[0x1000+off%0x200:], v)
			}
		}
		if b.m.Broken() != nil && b.r(0x070)&virtio.StatusDeviceNeedsReset == 0 && b.r(0x070) != 0 {
			t.Fatalf("broken but status %#x", b.r(0x070))
		}
	})
}
