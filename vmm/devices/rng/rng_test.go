package rng

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

func activated(t *testing.T) (*Device, *virtiotest.Guest, *virtiotest.Ring, *virtiotest.Notifier) {
	t.Helper()
	d := New(Options{})
	g := virtiotest.NewGuest(4 << 20)
	r := g.NewRing(8)
	q, err := r.Queue(virtio.FeatureVersion1)
	if err != nil {
		t.Fatal(err)
	}
	n := virtiotest.NewNotifier()
	if err := d.Activate(g.Mem, []*virtio.Queue{q}, n.Notify, d.Features()); err != nil {
		t.Fatal(err)
	}
	return d, g, r, n
}

func TestFillsWritableBuffers(t *testing.T) {
	d, g, r, n := activated(t)
	a, b := g.Out(64, 0), g.Out(32, 0)
	head := r.AddChain(a, b)
	r.Publish(head)
	d.Notify(0)
	id, ln := r.Used(0)
	if r.UsedIdx() != 1 || id != uint32(head) || ln != 96 || n.Count(0) != 1 {
		t.Fatalf("used idx %d elem (%d,%d) notifications %d", r.UsedIdx(), id, ln, n.Count(0))
	}
	if bytes.Equal(g.Bytes(a.Addr, 64), make([]byte, 64)) || bytes.Equal(g.Bytes(b.Addr, 32), make([]byte, 32)) {
		t.Fatal("buffers still zero")
	}
	if d.Counters().Served != 96 {
		t.Fatalf("Served = %d", d.Counters().Served)
	}
}

func TestRequestIsBounded(t *testing.T) {
	d, g, r, _ := activated(t)
	big := g.Out(MaxRequest+4096, 0)
	r.Publish(r.AddChain(big))
	d.Notify(0)
	if _, ln := r.Used(0); ln != MaxRequest {
		t.Fatalf("used len %d, want %d", ln, MaxRequest)
	}
	if !bytes.Equal(g.Bytes(big.Addr+MaxRequest, 4096), make([]byte, 4096)) {
		t.Fatal("wrote past the per-request cap")
	}
}

func TestReadableOnlyChainGetsNothing(t *testing.T) {
	d, g, r, _ := activated(t)
	in := g.In([]byte("not for you"))
	r.Publish(r.AddChain(in))
	d.Notify(0)
	if _, ln := r.Used(0); r.UsedIdx() != 1 || ln != 0 || string(g.Bytes(in.Addr, 11)) != "not for you" {
		t.Fatalf("used idx %d len %d", r.UsedIdx(), ln)
	}
}

func TestContract(t *testing.T) {
	d := New(Options{})
	if d.Type() != virtio.DeviceEntropy || len(d.QueueSizes()) != 1 || d.Features()&virtio.FeatureVersion1 == 0 {
		t.Fatal("device identity wrong")
	}
	cfg := []byte{1, 2}
	d.ReadConfig(0, cfg)
	if cfg[0] != 0 || cfg[1] != 0 {
		t.Fatal("config not zero")
	}
	d.Notify(0) // not activated: ignored
	if err := d.Activate(nil, nil, nil, 0); err == nil {
		t.Fatal("activated without queue")
	}
}

// TestThroughMMIO runs the device behind the real transport, as the guest
// driver does it.
func TestThroughMMIO(t *testing.T) {
	d := New(Options{})
	irq := &virtiotest.Interrupt{}
	m := virtio.NewMMIO(d, irq)
	g := virtiotest.NewGuest(1 << 20)
	m.SetMemory(g.Mem)
	r := g.NewRing(8)
	w := func(off uint64, v uint32) { m.Write(off, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}) }
	w(0x070, 1)
	w(0x070, 3)
	w(0x024, 1)
	w(0x020, 1) // VERSION_1
	w(0x070, 11)
	w(0x030, 0)
	w(0x038, 8)
	w(0x080, uint32(r.Config.Desc))
	w(0x090, uint32(r.Config.Avail))
	w(0x0a0, uint32(r.Config.Used))
	w(0x044, 1)
	w(0x070, 15)
	if m.Broken() != nil {
		t.Fatal(m.Broken())
	}
	r.Publish(r.AddChain(g.Out(16, 0)))
	m.Kick(0)
	if r.UsedIdx() != 1 || irq.Count() != 1 {
		t.Fatalf("used %d irqs %d", r.UsedIdx(), irq.Count())
	}
}

// TestErrorsGoToTheInjectedLogger checks that a failure to signal the
// driver is logged through Options.Logger, tagged with the device, rather
// than through the process-wide logger.
func TestErrorsGoToTheInjectedLogger(t *testing.T) {
	var logs bytes.Buffer
	d := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	g := virtiotest.NewGuest(1 << 20)
	r := g.NewRing(8)
	q, err := r.Queue(virtio.FeatureVersion1)
	if err != nil {
		t.Fatal(err)
	}
	failing := func(int) error { return errors.New("irqfd gone") }
	if err := d.Activate(g.Mem, []*virtio.Queue{q}, failing, d.Features()); err != nil {
		t.Fatal(err)
	}
	r.Publish(r.AddChain(g.Out(16, 0)))
	d.Notify(0)
	if s := logs.String(); !strings.Contains(s, "virtio=rng") || !strings.Contains(s, "irqfd gone") {
		t.Fatalf("log %q lacks the device or the error", s)
	}
}
