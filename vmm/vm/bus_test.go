package vm

import (
	"bytes"
	"testing"
)

// recorder is a Handler that records the last access.
type recorder struct {
	off  uint64
	data []byte
	fill byte
}

func (r *recorder) Read(off uint64, data []byte) {
	r.off = off
	for i := range data {
		data[i] = r.fill
	}
}

func (r *recorder) Write(off uint64, data []byte) {
	r.off = off
	r.data = append([]byte(nil), data...)
}

func TestBusDispatch(t *testing.T) {
	b := NewBus("pio")
	a, c := &recorder{fill: 0xaa}, &recorder{fill: 0xcc}
	if err := b.Add(0x3f8, 8, a); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(0x60, 5, c); err != nil {
		t.Fatal(err)
	}
	d := make([]byte, 1)
	if !b.Read(0x3fd, d) || d[0] != 0xaa || a.off != 5 {
		t.Fatalf("read 0x3fd: %x off %d", d, a.off)
	}
	if !b.Write(0x64, []byte{0xfe}) || c.off != 4 || !bytes.Equal(c.data, []byte{0xfe}) {
		t.Fatalf("write 0x64: off %d data %x", c.off, c.data)
	}
}

func TestBusUnclaimed(t *testing.T) {
	b := NewBus("mmio")
	b.Add(0x1000, 0x100, &recorder{})
	d := []byte{1, 2, 3, 4}
	if b.Read(0x2000, d) || !bytes.Equal(d, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("unclaimed read: %x", d)
	}
	// Straddling the end of a device is not claimed by it.
	if b.Read(0x10fe, d) {
		t.Fatal("access straddling the device end was dispatched")
	}
	if b.Write(0xfff, []byte{1, 2}) {
		t.Fatal("access straddling the device start was dispatched")
	}
	if b.Read(^uint64(0), d) {
		t.Fatal("wrapping access was dispatched")
	}
}

func TestBusRejectsOverlap(t *testing.T) {
	b := NewBus("pio")
	if err := b.Add(0x100, 0x10, &recorder{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]uint64{{0x108, 4}, {0xf8, 0x10}, {0x100, 1}, {0xf0, 0x100}, {0x200, 0}, {^uint64(0), 2}} {
		if err := b.Add(r[0], r[1], &recorder{}); err == nil {
			t.Errorf("Add(%#x, %#x) accepted", r[0], r[1])
		}
	}
	if err := b.Add(0x110, 0x10, &recorder{}); err != nil {
		t.Fatalf("adjacent range refused: %v", err)
	}
}
