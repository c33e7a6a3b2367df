// Package memory is guest physical memory: bounds-checked access by guest
// physical address (GPA). It is the only way device models touch guest RAM,
// so every address a guest hands a device goes through one check here.
package memory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ErrOutOfRange reports an access that is not wholly inside one region of
// guest RAM, including one whose addr+len overflows.
var ErrOutOfRange = errors.New("guest address out of range")

// Region is one contiguous range of guest RAM backed by host memory.
type Region struct {
	GPA  uint64 // guest physical address of Data[0]
	Data []byte // host backing; len(Data) is the region size
}

// End returns the first GPA past the region.
func (r Region) End() uint64 { return r.GPA + uint64(len(r.Data)) }

// Memory is a set of non-overlapping regions sorted by GPA. The zero value
// has no RAM. A Memory is safe for concurrent use: its layout never changes
// after New, and the bytes themselves belong to the guest.
type Memory struct {
	regions []Region
}

// New returns guest memory made of regions, which must not overlap, be empty,
// or wrap around the 64-bit address space.
func New(regions ...Region) (*Memory, error) {
	rs := append([]Region(nil), regions...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].GPA < rs[j].GPA })
	for i, r := range rs {
		if len(r.Data) == 0 {
			return nil, fmt.Errorf("region at %#x is empty", r.GPA)
		}
		if r.End() < r.GPA {
			return nil, fmt.Errorf("region at %#x wraps the address space", r.GPA)
		}
		if i > 0 && rs[i-1].End() > r.GPA {
			return nil, fmt.Errorf("region at %#x overlaps region at %#x", r.GPA, rs[i-1].GPA)
		}
	}
	return &Memory{regions: rs}, nil
}

// FromBytes returns guest memory with b mapped at GPA 0. Tests use it to
// stand a plain []byte in for guest RAM.
func FromBytes(b []byte) *Memory {
	return &Memory{regions: []Region{{GPA: 0, Data: b}}}
}

// Regions returns the regions, sorted by GPA. The caller must not modify it.
func (m *Memory) Regions() []Region { return m.regions }

// Size returns the total bytes of guest RAM.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += uint64(len(r.Data))
	}
	return n
}

// Slice returns the host bytes backing [gpa, gpa+n). The range must lie
// inside a single region. The returned slice aliases guest RAM: the guest
// may change it at any time, so callers copy what they validate.
func (m *Memory) Slice(gpa, n uint64) ([]byte, error) {
	end := gpa + n
	if end < gpa {
		return nil, fmt.Errorf("%w: %#x+%#x overflows", ErrOutOfRange, gpa, n)
	}
	// Binary search for the last region starting at or below gpa.
	i := sort.Search(len(m.regions), func(i int) bool { return m.regions[i].GPA > gpa }) - 1
	if i < 0 {
		return nil, fmt.Errorf("%w: [%#x, %#x)", ErrOutOfRange, gpa, end)
	}
	r := m.regions[i]
	if end > r.End() {
		return nil, fmt.Errorf("%w: [%#x, %#x)", ErrOutOfRange, gpa, end)
	}
	off := gpa - r.GPA
	return r.Data[off : off+n : off+n], nil
}

// ReadAt copies len(p) bytes from guest address gpa into p.
func (m *Memory) ReadAt(p []byte, gpa uint64) error {
	s, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(p, s)
	return nil
}

// WriteAt copies p into guest memory at gpa.
func (m *Memory) WriteAt(p []byte, gpa uint64) error {
	s, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(s, p)
	return nil
}

// Uint16 reads a little-endian uint16 at gpa.
func (m *Memory) Uint16(gpa uint64) (uint16, error) {
	s, err := m.Slice(gpa, 2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(s), nil
}

// Uint32 reads a little-endian uint32 at gpa.
func (m *Memory) Uint32(gpa uint64) (uint32, error) {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(s), nil
}

// Uint64 reads a little-endian uint64 at gpa.
func (m *Memory) Uint64(gpa uint64) (uint64, error) {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s), nil
}

// PutUint16 writes a little-endian uint16 at gpa.
func (m *Memory) PutUint16(gpa uint64, v uint16) error {
	s, err := m.Slice(gpa, 2)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(s, v)
	return nil
}

// PutUint32 writes a little-endian uint32 at gpa.
func (m *Memory) PutUint32(gpa uint64, v uint32) error {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(s, v)
	return nil
}

// PutUint64 writes a little-endian uint64 at gpa.
func (m *Memory) PutUint64(gpa uint64, v uint64) error {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(s, v)
	return nil
}
