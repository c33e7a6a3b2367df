package virtio_test

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// TestPushAllPublishesOnce returns three chains in one PushAll across the
// end of the used ring and the 16-bit wrap of used idx: the elements land
// in order and used idx moves once, by three.
func TestPushAllPublishesOnce(t *testing.T) {
	r, q := newRing(t, 4, 0)
	var heads []uint16
	for range 4 {
		heads = append(heads, r.AddChain(r.G.Out(8, 0)))
	}
	// Cycle the ring until used idx is 65534, two short of the wrap.
	for n := 0; r.UsedIdx() != 65534; n++ {
		r.Publish(heads[n%4])
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("Pop %d: %v, %v", n, c, err)
		}
		if err := q.Push(c.Head, 1); err != nil {
			t.Fatal(err)
		}
	}
	r.Publish(heads[2], heads[3], heads[0])
	var used []virtio.Used
	for range 3 {
		c, err := q.Pop()
		if err != nil || c == nil {
			t.Fatalf("Pop: %v, %v", c, err)
		}
		used = append(used, virtio.Used{Head: c.Head, Len: uint32(10 + c.Head)})
	}
	if err := q.PushAll(used...); err != nil {
		t.Fatal(err)
	}
	if r.UsedIdx() != 1 {
		t.Fatalf("used idx %d, want 1 (65534+3)", r.UsedIdx())
	}
	for i, want := range []uint16{heads[2], heads[3], heads[0]} {
		id, ln := r.Used(65534 + uint16(i))
		if id != uint32(want) || ln != uint32(10+want) {
			t.Fatalf("used[%d] = (%d,%d), want (%d,%d)", 65534+uint16(i), id, ln, want, 10+want)
		}
	}
	if err := q.PushAll(); err != nil || r.UsedIdx() != 1 {
		t.Fatalf("empty PushAll: %v, used idx %d", err, r.UsedIdx())
	}
}
