package virtio_test

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// FuzzQueue lets the fuzzer write the descriptor table, the avail ring and
// the indirect tables of an 8-entry queue, then walks everything the
// "driver" published. Nothing may panic, and every buffer handed to a device
// must lie inside guest RAM.
func FuzzQueue(f *testing.F) {
	seed := make([]byte, 0x200)
	// desc 0 -> buffer 0x800, 16 bytes, NEXT to 1; desc 1 writable 0x900.
	copy(seed[0x00:], []byte{0x00, 0x08, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0})
	copy(seed[0x10:], []byte{0x00, 0x09, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0})
	copy(seed[0x80:], []byte{0, 0, 1, 0, 0, 0}) // avail idx 1, ring[0] = 0
	f.Add(seed, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, feat uint8) {
		ram := make([]byte, 0x4000)
		copy(ram, data)
		mem := memory.FromBytes(ram)
		var features uint64
		if feat&1 != 0 {
			features |= virtio.FeatureIndirectDesc
		}
		if feat&2 != 0 {
			features |= virtio.FeatureEventIdx
		}
		cfg := virtio.QueueConfig{Size: 8, Desc: 0, Avail: 0x80, Used: 0xc0}
		q, err := virtio.NewQueue(mem, cfg, 8, features, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			c, err := q.Pop()
			if err != nil || c == nil {
				break
			}
			if len(c.Descs) == 0 {
				t.Fatal("empty chain")
			}
			for _, d := range c.Descs {
				if d.Addr+uint64(d.Len) > uint64(len(ram)) || d.Addr+uint64(d.Len) < d.Addr {
					t.Fatalf("descriptor outside RAM: %+v", d)
				}
			}
			_ = q.Push(c.Head, uint32(c.WriteLen()))
			q.NeedsInterrupt()
		}
	})
}
