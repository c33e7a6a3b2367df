package virtio_test

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// BenchmarkPopPush measures the device side of one 3-descriptor request:
// validate and copy the chain, return it, decide about the interrupt.
func BenchmarkPopPush(b *testing.B) {
	g := virtiotest.NewGuest(1 << 20)
	r := g.NewRing(256)
	q, err := r.Queue(0)
	if err != nil {
		b.Fatal(err)
	}
	hdr, data, st := g.In(make([]byte, 16)), g.Out(4096, 0), g.Out(1, 0)
	b.ReportAllocs()
	for b.Loop() {
		r.Publish(r.AddChain(hdr, data, st))
		c, err := q.Pop()
		if err != nil || c == nil {
			b.Fatal(c, err)
		}
		_ = q.Push(c.Head, 4097)
		q.NeedsInterrupt()
	}
}
