package blk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// FuzzRequest feeds the request parser and executor a chain whose readable
// bytes (header and data) and shape come from the fuzzer: split points of the
// readable part, the writable length and whether the disk is read-only.
// Nothing may panic, the used length never exceeds the writable bytes, and
// the status byte is one of the three the spec defines.
func FuzzRequest(f *testing.F) {
	f.Add(header(TypeIn, 1), uint8(16), uint16(513), false)
	f.Add(append(header(TypeOut, 2), make([]byte, 512)...), uint8(7), uint16(1), false)
	f.Add(header(TypeGetID, 0), uint8(16), uint16(21), true)
	f.Add(header(TypeFlush, 0), uint8(3), uint16(0), false)
	img, err := os.Create(filepath.Join(f.TempDir(), "disk.img"))
	if err != nil {
		f.Fatal(err)
	}
	defer img.Close()
	if err := img.Truncate(8 * SectorSize); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, readable []byte, cut uint8, writable uint16, ro bool) {
		dev, err := New(img, Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		g := virtiotest.NewGuest(256 << 10)
		r := g.NewRing(8)
		q, err := r.Queue(virtio.FeatureVersion1)
		if err != nil {
			t.Fatal(err)
		}
		n := virtiotest.NewNotifier()
		if err := dev.Activate(g.Mem, []*virtio.Queue{q}, n.Notify, dev.Features()); err != nil {
			t.Fatal(err)
		}
		readable = readable[:min(len(readable), 64<<10)]
		c := min(int(cut), len(readable))
		var bufs []virtiotest.Buf
		for _, part := range [][]byte{readable[:c], readable[c:]} {
			if len(part) > 0 {
				bufs = append(bufs, g.In(part))
			}
		}
		w := int(writable) % (64 << 10)
		if w > 0 {
			bufs = append(bufs, g.Out(w, 0xff))
		}
		if len(bufs) == 0 {
			return
		}
		r.Publish(r.AddChain(bufs...))
		dev.Notify(0)
		if r.UsedIdx() != 1 {
			t.Fatalf("used idx %d", r.UsedIdx())
		}
		_, ln := r.Used(0)
		if int(ln) > w {
			t.Fatalf("used len %d > writable %d", ln, w)
		}
		if w > 0 {
			last := bufs[len(bufs)-1]
			if st := g.RAM[last.Addr+uint64(last.Len)-1]; st > StatusUnsupp {
				t.Fatalf("status byte %#x", st)
			}
		}
	})
}
