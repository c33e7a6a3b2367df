package virtio

import (
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// SplitAt splits buffers at byte n: head holds the first n bytes (or all of
// them when shorter), tail the rest. A buffer straddling n is cut in two.
// Devices use it to peel a header off the front of a chain (virtio 1.2
// §2.7.4: the device must not assume any particular framing) or a status
// byte off the end.
func SplitAt(ds []Desc, n uint64) (head, tail []Desc) {
	for i, d := range ds {
		if n == 0 {
			return head, ds[i:]
		}
		if uint64(d.Len) <= n {
			head = append(head, d)
			n -= uint64(d.Len)
			continue
		}
		head = append(head, Desc{Addr: d.Addr, Len: uint32(n), Write: d.Write})
		tail = append(tail, Desc{Addr: d.Addr + n, Len: d.Len - uint32(n), Write: d.Write})
		return head, append(tail, ds[i+1:]...)
	}
	return head, nil
}

// Slices returns the guest RAM backing each buffer, as iovecs for
// preadv/pwritev/writev straight into guest memory. The slices alias guest
// RAM. Buffers of a validated Chain always resolve; the error is for
// hand-made ones.
func Slices(mem *memory.Memory, ds []Desc) ([][]byte, error) {
	out := make([][]byte, 0, len(ds))
	for _, d := range ds {
		if d.Len == 0 {
			continue
		}
		s, err := mem.Slice(d.Addr, uint64(d.Len))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// TotalLen returns the total bytes of buffers.
func TotalLen(ds []Desc) uint64 { return sumLen(ds) }
