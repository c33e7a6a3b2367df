package virtio_test

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// fakeDevice is a two-queue device whose Notify returns every chain
// unwritten; it records what the transport does to it.
type fakeDevice struct {
	mu          sync.Mutex
	config      [8]byte
	activations int
	resets      int
	acked       uint64
	queues      []*virtio.Queue
	notify      func(int) error
	activateErr error
	kicks       []int
}

const fakeFeatures = virtio.FeatureVersion1 | virtio.FeatureIndirectDesc | 1<<5

func (d *fakeDevice) Type() virtio.DeviceID { return virtio.DeviceEntropy }
func (d *fakeDevice) Features() uint64      { return fakeFeatures }
func (d *fakeDevice) QueueSizes() []uint16  { return []uint16{8, 4} }
func (d *fakeDevice) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(d.config)) {
		copy(data, d.config[off:])
	}
}
func (d *fakeDevice) WriteConfig(off uint64, data []byte) {
	if off < uint64(len(d.config)) {
		copy(d.config[off:], data)
	}
}
func (d *fakeDevice) Activate(_ *memory.Memory, qs []*virtio.Queue, notify func(int) error, acked uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.activateErr != nil {
		return d.activateErr
	}
	d.activations++
	d.queues, d.notify, d.acked = qs, notify, acked
	return nil
}
func (d *fakeDevice) Notify(q int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kicks = append(d.kicks, q)
	if q >= len(d.queues) || d.queues[q] == nil {
		return
	}
	for {
		c, err := d.queues[q].Pop()
		if err != nil || c == nil {
			break
		}
		_ = d.queues[q].Push(c.Head, 0)
	}
	_ = d.notify(q)
}
func (d *fakeDevice) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resets++
	d.queues, d.notify = nil, nil
}

// bench is a transport with a fake device, a counting interrupt and 1 MiB
// of guest RAM, driven by the test as a driver would.
type bench struct {
	t   *testing.T
	m   *virtio.MMIO
	dev *fakeDevice
	irq *virtiotest.Interrupt
	g   *virtiotest.Guest
}

func newBench(t *testing.T) *bench {
	b := &bench{t: t, dev: &fakeDevice{}, irq: &virtiotest.Interrupt{}, g: virtiotest.NewGuest(ramSize)}
	b.m = virtio.NewMMIO(b.dev, b.irq)
	b.m.SetMemory(b.g.Mem)
	return b
}

func (b *bench) r(off uint64) uint32 {
	var d [4]byte
	b.m.Read(off, d[:])
	return binary.LittleEndian.Uint32(d[:])
}

func (b *bench) w(off uint64, v uint32) {
	var d [4]byte
	binary.LittleEndian.PutUint32(d[:], v)
	b.m.Write(off, d[:])
}

// setupQueue programs queue i with ring r and enables it.
func (b *bench) setupQueue(i uint32, r *virtiotest.Ring) {
	b.w(0x030, i)
	b.w(0x038, uint32(r.Config.Size))
	b.w(0x080, uint32(r.Config.Desc))
	b.w(0x084, uint32(r.Config.Desc>>32))
	b.w(0x090, uint32(r.Config.Avail))
	b.w(0x094, uint32(r.Config.Avail>>32))
	b.w(0x0a0, uint32(r.Config.Used))
	b.w(0x0a4, uint32(r.Config.Used>>32))
	b.w(0x044, 1)
}

// negotiate runs virtio 1.2 §3.1.1 up to FEATURES_OK, acking features.
func (b *bench) negotiate(features uint64) {
	b.w(0x070, 0)
	b.w(0x070, virtio.StatusAcknowledge)
	b.w(0x070, virtio.StatusAcknowledge|virtio.StatusDriver)
	b.w(0x024, 0)
	b.w(0x020, uint32(features))
	b.w(0x024, 1)
	b.w(0x020, uint32(features>>32))
	b.w(0x070, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
}

const statusAll = virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK | virtio.StatusDriverOK

// start negotiates, enables queue 0 with a fresh ring and sets DRIVER_OK.
func (b *bench) start() *virtiotest.Ring {
	b.negotiate(virtio.FeatureVersion1)
	r := b.g.NewRing(8)
	b.setupQueue(0, r)
	b.w(0x070, statusAll)
	if got := b.r(0x070); got != statusAll || b.m.Broken() != nil {
		b.t.Fatalf("status after DRIVER_OK = %#x, broken %v", got, b.m.Broken())
	}
	return r
}

func TestIdentityRegisters(t *testing.T) {
	b := newBench(t)
	for off, want := range map[uint64]uint32{
		0x000: 0x74726976, 0x004: 2, 0x008: 4, 0x00c: virtio.VendorID,
		0x060: 0, 0x070: 0, 0x0fc: 0, 0x0b0: 0xffffffff, 0x0b4: 0xffffffff,
		0x0c0: 0, 0x0f0: 0,
	} {
		if got := b.r(off); got != want {
			t.Errorf("register %#x = %#x, want %#x", off, got, want)
		}
	}
	b.w(0x014, 0)
	if got := b.r(0x010); got != uint32(fakeFeatures&0xffffffff) {
		t.Errorf("features[0] = %#x", got)
	}
	b.w(0x014, 1)
	if got := b.r(0x010); got != uint32(fakeFeatures>>32) {
		t.Errorf("features[1] = %#x", got)
	}
	b.w(0x014, 7)
	if got := b.r(0x010); got != 0 {
		t.Errorf("features[7] = %#x", got)
	}
	for sel, want := range []uint32{8, 4, 0} {
		b.w(0x030, uint32(sel))
		if got := b.r(0x034); got != want {
			t.Errorf("QueueNumMax[%d] = %d, want %d", sel, got, want)
		}
	}
	// Odd widths read as zero and writes are ignored.
	var two [2]byte
	b.m.Read(0x000, two[:])
	if two != [2]byte{} {
		t.Errorf("2-byte read of magic = %v", two)
	}
}

func TestFeatureNegotiationMasksUnofferedBits(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1 | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx | 1<<63 | 1<<3)
	r := b.g.NewRing(8)
	b.setupQueue(0, r)
	b.w(0x070, statusAll)
	want := uint64(virtio.FeatureVersion1 | virtio.FeatureIndirectDesc)
	if b.dev.acked != want {
		t.Fatalf("device activated with %#x, want %#x", b.dev.acked, want)
	}
}

func TestFeaturesOKRefusedWithoutVersion1(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureIndirectDesc)
	if got := b.r(0x070); got&virtio.StatusFeaturesOK != 0 {
		t.Fatalf("FEATURES_OK accepted without VERSION_1: status %#x", got)
	}
	b.w(0x070, statusAll)
	if b.m.Broken() == nil || b.dev.activations != 0 {
		t.Fatalf("DRIVER_OK without FEATURES_OK: broken %v, activations %d", b.m.Broken(), b.dev.activations)
	}
}

func TestFeaturesFrozenAfterFeaturesOK(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1)
	b.w(0x024, 0)
	b.w(0x020, uint32(virtio.FeatureIndirectDesc))
	b.setupQueue(0, b.g.NewRing(8))
	b.w(0x070, statusAll)
	if b.dev.acked != virtio.FeatureVersion1 {
		t.Fatalf("acked = %#x after late feature write", b.dev.acked)
	}
}

func TestStatusCannotClearBits(t *testing.T) {
	b := newBench(t)
	b.start()
	b.w(0x070, virtio.StatusAcknowledge)
	if got := b.r(0x070); got != statusAll {
		t.Fatalf("status = %#x after clearing write", got)
	}
}

func TestKickAndInterrupt(t *testing.T) {
	b := newBench(t)
	r := b.start()
	r.Publish(r.AddChain(b.g.Out(4, 0)))
	b.w(virtio.NotifyOffset, 0)
	if r.UsedIdx() != 1 || b.irq.Count() != 1 || b.r(0x060) != virtio.InterruptUsedBuffer {
		t.Fatalf("used %d, irqs %d, isr %#x", r.UsedIdx(), b.irq.Count(), b.r(0x060))
	}
	b.w(0x064, virtio.InterruptUsedBuffer)
	if got := b.r(0x060); got != 0 {
		t.Fatalf("isr after ACK = %#x", got)
	}
	// The ioeventfd path, and kicks for queues that do not exist.
	r.Publish(r.AddChain(b.g.Out(4, 0)))
	b.m.Kick(0)
	b.m.Kick(1)
	b.m.Kick(99)
	b.m.Kick(-1)
	if r.UsedIdx() != 2 || b.irq.Count() != 2 {
		t.Fatalf("used %d, irqs %d", r.UsedIdx(), b.irq.Count())
	}
	if len(b.dev.kicks) != 3 {
		t.Fatalf("device saw kicks %v, want [0 0 1]", b.dev.kicks)
	}
}

func TestKickBeforeDriverOKIgnored(t *testing.T) {
	b := newBench(t)
	b.negotiate(virtio.FeatureVersion1)
	b.m.Kick(0)
	b.w(virtio.NotifyOffset, 0)
	if len(b.dev.kicks) != 0 {
		t.Fatalf("device kicked before DRIVER_OK: %v", b.dev.kicks)
	}
}

func TestConfigSpaceAndGeneration(t *testing.T) {
	b := newBench(t)
	b.m.Write(0x102, []byte{0xAB, 0xCD})
	got := make([]byte, 3)
	b.m.Read(0x101, got)
	if got[0] != 0 || got[1] != 0xAB || got[2] != 0xCD {
		t.Fatalf("config bytes = %x", got)
	}
	gen := b.r(0x0fc)
	if err := b.m.ConfigChanged(); err != nil {
		t.Fatal(err)
	}
	if b.r(0x0fc) == gen || b.r(0x060)&virtio.InterruptConfigChange == 0 || b.irq.Count() != 1 {
		t.Fatalf("ConfigChanged: gen %d->%d isr %#x irqs %d", gen, b.r(0x0fc), b.r(0x060), b.irq.Count())
	}
}

func TestResetClearsState(t *testing.T) {
	b := newBench(t)
	r := b.start()
	r.SetAvailIdx(100) // break it
	b.m.Kick(0)
	if b.m.Broken() == nil {
		t.Fatal("not broken")
	}
	b.w(0x070, 0)
	if b.r(0x070) != 0 || b.r(0x060) != 0 || b.m.Broken() != nil || b.dev.resets == 0 {
		t.Fatalf("after reset: status %#x isr %#x broken %v resets %d", b.r(0x070), b.r(0x060), b.m.Broken(), b.dev.resets)
	}
	b.w(0x030, 0)
	if b.r(0x044) != 0 {
		t.Fatal("queue still ready after reset")
	}
	b.start()
	if b.dev.activations != 2 {
		t.Fatalf("activations = %d", b.dev.activations)
	}
}

func TestActivateErrorBreaksDevice(t *testing.T) {
	b := newBench(t)
	b.dev.activateErr = errors.New("no backend")
	b.negotiate(virtio.FeatureVersion1)
	b.setupQueue(0, b.g.NewRing(8))
	b.w(0x070, statusAll)
	if b.m.Broken() == nil || b.r(0x070)&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %#x broken %v", b.r(0x070), b.m.Broken())
	}
}

func TestSetMemoryRequired(t *testing.T) {
	dev := &fakeDevice{}
	m := virtio.NewMMIO(dev, &virtiotest.Interrupt{})
	b := &bench{t: t, m: m, dev: dev, irq: &virtiotest.Interrupt{}, g: virtiotest.NewGuest(ramSize)}
	b.negotiate(virtio.FeatureVersion1)
	b.setupQueue(0, b.g.NewRing(8))
	if m.Broken() == nil {
		t.Fatal("queue enabled without guest memory")
	}
}

// TestConcurrentAccess hammers the transport from several goroutines, as
// vCPUs and the ioeventfd goroutine would, while the driver resets and
// restarts the device. Run with -race.
func TestConcurrentAccess(t *testing.T) {
	b := newBench(t)
	b.start()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				b.m.Kick(0)
			}
		}
	}()
	go func() {
		defer wg.Done()
		var d [4]byte
		for {
			select {
			case <-stop:
				return
			default:
				for _, off := range []uint64{0x034, 0x044, 0x060, 0x070, 0x0fc, 0x100} {
					b.m.Read(off, d[:])
				}
				b.m.Write(0x064, []byte{3, 0, 0, 0})
			}
		}
	}()
	for range 50 {
		b.w(0x070, 0)
		b.start()
	}
	close(stop)
	wg.Wait()
	if b.dev.activations != 51 {
		t.Fatalf("activations = %d", b.dev.activations)
	}
}
