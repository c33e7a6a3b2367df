package blk

import (
	"testing"
)

// BenchmarkRead64K measures one 64 KiB IN request end to end (parse,
// preadv into guest RAM from the page cache, status, used ring), the unit
// of a sequential read.
func BenchmarkRead64K(b *testing.B) {
	const size = 64 << 10
	x := newRig(b, Options{})
	if err := x.file.Truncate(1 << 20); err != nil {
		b.Fatal(err)
	}
	x = activate(b, x.file, Options{})
	hdr, data, st := x.g.In(header(TypeIn, 0)), x.g.Out(size, 0), x.g.Out(1, 0xff)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		x.r.Publish(x.r.AddChain(hdr, data, st))
		x.dev.Notify(0)
		if x.g.RAM[st.Addr] != StatusOK {
			b.Fatal("request failed")
		}
	}
}
