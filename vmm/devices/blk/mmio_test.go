package blk

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// TestThroughMMIO drives the disk as the Linux driver does: through the
// virtio-mmio registers, with EVENT_IDX and indirect descriptors negotiated,
// and a kick on QueueNotify.
func TestThroughMMIO(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("virtio-blk says hi"), 3*SectorSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(diskSize); err != nil {
		t.Fatal(err)
	}
	dev, err := New(f, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	irq := &virtiotest.Interrupt{}
	m := virtio.NewMMIO(dev, irq)
	g := virtiotest.NewGuest(1 << 20)
	m.SetMemory(g.Mem)
	r32 := func(off uint64) uint32 {
		var b [4]byte
		m.Read(off, b[:])
		return binary.LittleEndian.Uint32(b[:])
	}
	w32 := func(off uint64, v uint32) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		m.Write(off, b[:])
	}
	if r32(0x000) != virtio.MagicValue || r32(0x004) != 2 || r32(0x008) != uint32(virtio.DeviceBlock) {
		t.Fatal("not a virtio-mmio v2 block device")
	}
	w32(0x070, 1)
	w32(0x070, 3)
	w32(0x014, 0)
	lo := r32(0x010)
	w32(0x014, 1)
	hi := r32(0x010)
	offered := uint64(hi)<<32 | uint64(lo)
	if offered&FeatureRO == 0 {
		t.Fatal("read-only disk without VIRTIO_BLK_F_RO")
	}
	w32(0x024, 0)
	w32(0x020, lo)
	w32(0x024, 1)
	w32(0x020, hi)
	w32(0x070, 11)
	if r32(0x070)&virtio.StatusFeaturesOK == 0 {
		t.Fatal("features refused")
	}
	if c := uint64(r32(0x100)) | uint64(r32(0x104))<<32; c != diskSize/SectorSize {
		t.Fatalf("capacity %d", c)
	}
	ring := g.NewRing(QueueSize)
	w32(0x030, 0)
	w32(0x038, QueueSize)
	w32(0x080, uint32(ring.Config.Desc))
	w32(0x090, uint32(ring.Config.Avail))
	w32(0x0a0, uint32(ring.Config.Used))
	w32(0x044, 1)
	w32(0x070, 15)
	if m.Broken() != nil {
		t.Fatal(m.Broken())
	}
	data, st := g.Out(SectorSize, 0), g.Out(1, 0xff)
	ring.SetUsedEvent(0)
	ring.Publish(ring.AddIndirect(g.In(header(TypeIn, 3)), data, st))
	w32(virtio.NotifyOffset, 0)
	if g.RAM[st.Addr] != StatusOK || string(g.Bytes(data.Addr, 18)) != "virtio-blk says hi" {
		t.Fatalf("status %d data %q", g.RAM[st.Addr], g.Bytes(data.Addr, 18))
	}
	if irq.Count() != 1 || r32(0x060) != virtio.InterruptUsedBuffer || ring.AvailEvent() != 1 {
		t.Fatalf("irqs %d isr %#x avail_event %d", irq.Count(), r32(0x060), ring.AvailEvent())
	}
	w32(0x064, 1)
	w32(0x070, 0)
	if r32(0x070) != 0 || dev.Counters().Reads != 1 {
		t.Fatal("reset failed")
	}
}
