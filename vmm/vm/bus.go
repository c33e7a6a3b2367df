package vm

import (
	"fmt"
	"sort"
)

// Handler is a device on the port I/O or MMIO bus. offset is from the start
// of the range the device was added at; len(data) is the access size. Read
// fills data; Write consumes it. Both are called from vCPU goroutines and
// must not panic whatever the guest does.
type Handler interface {
	Read(offset uint64, data []byte)
	Write(offset uint64, data []byte)
}

// busRange is one device's address range on a bus.
type busRange struct {
	base, size uint64
	h          Handler
}

// Bus maps address ranges to handlers. It is built before the vCPUs start
// and never changes afterwards, so lookups need no lock.
type Bus struct {
	name   string
	ranges []busRange // sorted by base, non-overlapping
}

// NewBus returns an empty bus; name ("pio", "mmio") labels errors.
func NewBus(name string) *Bus { return &Bus{name: name} }

// Add places h at [base, base+size). Ranges must not be empty, wrap or
// overlap another.
func (b *Bus) Add(base, size uint64, h Handler) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("%s bus: bad range %#x+%#x", b.name, base, size)
	}
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base >= base })
	if i < len(b.ranges) && b.ranges[i].base < base+size {
		return fmt.Errorf("%s bus: %#x+%#x overlaps device at %#x", b.name, base, size, b.ranges[i].base)
	}
	if i > 0 && b.ranges[i-1].base+b.ranges[i-1].size > base {
		return fmt.Errorf("%s bus: %#x+%#x overlaps device at %#x", b.name, base, size, b.ranges[i-1].base)
	}
	b.ranges = append(b.ranges, busRange{})
	copy(b.ranges[i+1:], b.ranges[i:])
	b.ranges[i] = busRange{base: base, size: size, h: h}
	return nil
}

// find returns the range holding the whole access [addr, addr+n).
func (b *Bus) find(addr uint64, n int) (busRange, bool) {
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base > addr }) - 1
	if i < 0 {
		return busRange{}, false
	}
	r := b.ranges[i]
	off := addr - r.base
	if off >= r.size || uint64(n) > r.size-off {
		return busRange{}, false
	}
	return r, true
}

// Read dispatches a read. An access no device claims reads as all ones, as
// on a real bus with nothing driving it; Read reports whether a device took
// it.
func (b *Bus) Read(addr uint64, data []byte) bool {
	r, ok := b.find(addr, len(data))
	if !ok {
		for i := range data {
			data[i] = 0xff
		}
		return false
	}
	r.h.Read(addr-r.base, data)
	return true
}

// Write dispatches a write; an unclaimed write is dropped. Write reports
// whether a device took it.
func (b *Bus) Write(addr uint64, data []byte) bool {
	r, ok := b.find(addr, len(data))
	if !ok {
		return false
	}
	r.h.Write(addr-r.base, data)
	return true
}
