package memory

import (
	"errors"
	"math"
	"testing"
)

func TestSliceBounds(t *testing.T) {
	m, err := New(Region{GPA: 0, Data: make([]byte, 0x1000)}, Region{GPA: 0x10000, Data: make([]byte, 0x1000)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		gpa, n uint64
		ok     bool
	}{
		{"start", 0, 16, true},
		{"whole first", 0, 0x1000, true},
		{"past first", 0xff0, 0x20, false},
		{"in hole", 0x2000, 1, false},
		{"second", 0x10ff8, 8, true},
		{"past second", 0x10ff8, 9, false},
		{"overflow", math.MaxUint64 - 3, 8, false},
		{"huge length", 0x10, math.MaxUint64, false},
		{"above all", 0x20000, 1, false},
	} {
		_, err := m.Slice(tc.gpa, tc.n)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("%s: err %v, want ErrOutOfRange", tc.name, err)
		}
	}
}

func TestNewRejectsOverlap(t *testing.T) {
	if _, err := New(Region{GPA: 0, Data: make([]byte, 0x2000)}, Region{GPA: 0x1000, Data: make([]byte, 0x10)}); err == nil {
		t.Fatal("overlapping regions accepted")
	}
	if _, err := New(Region{GPA: 0, Data: nil}); err == nil {
		t.Fatal("empty region accepted")
	}
}

func TestIntegers(t *testing.T) {
	m := FromBytes(make([]byte, 64))
	if err := m.PutUint64(8, 0x1122334455667788); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Uint32(8); v != 0x55667788 {
		t.Fatalf("Uint32 = %#x", v)
	}
	if v, _ := m.Uint16(14); v != 0x1122 {
		t.Fatalf("Uint16 = %#x", v)
	}
	if err := m.PutUint32(62, 1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("write across end: %v", err)
	}
}

func TestAllocate(t *testing.T) {
	b, err := Allocate(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 1
	if err := Release(b); err != nil {
		t.Fatal(err)
	}
}

func FuzzSlice(f *testing.F) {
	f.Add(uint64(0), uint64(1))
	f.Add(uint64(math.MaxUint64), uint64(2))
	m, _ := New(Region{GPA: 0x1000, Data: make([]byte, 0x1000)}, Region{GPA: 0x4000, Data: make([]byte, 0x100)})
	f.Fuzz(func(t *testing.T, gpa, n uint64) {
		s, err := m.Slice(gpa, n)
		if err != nil {
			return
		}
		if uint64(len(s)) != n {
			t.Fatalf("len %d, want %d", len(s), n)
		}
		if !(gpa >= 0x1000 && gpa+n <= 0x2000) && !(gpa >= 0x4000 && gpa+n <= 0x4100) {
			t.Fatalf("[%#x,+%#x) accepted outside RAM", gpa, n)
		}
	})
}

func TestWord32Bounds(t *testing.T) {
	b := make([]byte, 16)
	*Word32(b, 12) = 0x01020304
	if b[12] != 4 || b[15] != 1 {
		t.Fatalf("word at 12 wrote % x", b[12:])
	}
	for _, off := range []uint64{2, 14, 16, 1 << 63} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Word32(b, %#x) did not panic", off)
				}
			}()
			Word32(b, off)
		}()
	}
}
