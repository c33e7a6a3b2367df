package rng

import (
	"bytes"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// FuzzRequest serves one request chain the fuzzer shapes: each byte of
// shape is a descriptor, bit 7 saying device-writable (else the driver's
// readable bytes) and bits 0-6 its size in KiB (0 means 1 byte); indirect
// puts the chain in an indirect table. Nothing may panic; the used length
// is the writable bytes, capped at MaxRequest (a chain with a readable
// descriptor after a writable one breaks the queue and gets nothing);
// readable buffers, and writable bytes beyond the cap, are left as they
// were; Served counts exactly what was used.
func FuzzRequest(f *testing.F) {
	f.Add([]byte{0x81}, false)
	f.Add([]byte{0x01, 0x82, 0x83}, true)
	f.Add([]byte{0xff, 0xff}, false) // past MaxRequest
	f.Add([]byte{0x7f}, false)       // nothing writable
	f.Fuzz(func(t *testing.T, shape []byte, indirect bool) {
		d := New(Options{})
		g := virtiotest.NewGuest(2 << 20)
		r := g.NewRing(8)
		feat := uint64(virtio.FeatureVersion1)
		if indirect {
			feat |= virtio.FeatureIndirectDesc
		}
		q, err := r.Queue(feat)
		if err != nil {
			t.Fatal(err)
		}
		n := virtiotest.NewNotifier()
		if err := d.Activate(g.Mem, []*virtio.Queue{q}, n.Notify, feat); err != nil {
			t.Fatal(err)
		}
		var bufs []virtiotest.Buf
		var writable int
		ordered := true // no readable descriptor after a writable one
		for _, s := range shape[:min(len(shape), 8)] {
			size := int(s&0x7f) << 10
			if size == 0 {
				size = 1
			}
			if s&0x80 != 0 {
				bufs = append(bufs, g.Out(size, 0xa5))
				writable += size
			} else {
				ordered = ordered && writable == 0
				bufs = append(bufs, g.In(bytes.Repeat([]byte{0x5a}, size)))
			}
		}
		if len(bufs) == 0 {
			return
		}
		if indirect {
			r.Publish(r.AddIndirect(bufs...))
		} else {
			r.Publish(r.AddChain(bufs...))
		}
		d.Notify(0)
		if !ordered {
			// A readable descriptor after a writable one breaks the
			// queue (virtio 1.2 §2.7.4.2): nothing is served.
			if r.UsedIdx() != 0 || d.Counters().Served != 0 {
				t.Fatalf("misordered chain served: used idx %d", r.UsedIdx())
			}
			writable = 0
		} else if r.UsedIdx() != 1 {
			t.Fatalf("used idx %d", r.UsedIdx())
		}
		_, ln := r.Used(0)
		want := min(writable, MaxRequest)
		if int(ln) != want || d.Counters().Served != uint64(want) {
			t.Fatalf("used len %d, served %d, want %d", ln, d.Counters().Served, want)
		}
		left := want
		for _, b := range bufs {
			mem := g.Bytes(b.Addr, int(b.Len))
			switch {
			case !b.Write:
				if !all(mem, 0x5a) {
					t.Fatal("readable buffer written")
				}
			default:
				k := min(left, int(b.Len))
				left -= k
				if !all(mem[k:], 0xa5) {
					t.Fatal("wrote past the per-request cap")
				}
			}
		}
	})
}

// all reports whether every byte of b is v.
func all(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}
