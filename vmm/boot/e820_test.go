package boot

import (
	"reflect"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

func TestRAMRanges(t *testing.T) {
	if got := RAMRanges(256 << 20); !reflect.DeepEqual(got, []Range{{0, 256 << 20}}) {
		t.Errorf("256M: %v", got)
	}
	got := RAMRanges(4 << 30)
	want := []Range{{0, 0xc0000000}, {0x100000000, 0x140000000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("4G: %#v, want %#v", got, want)
	}
	if RAMRanges(0) != nil {
		t.Error("0 bytes gives ranges")
	}
}

func TestE820Truth(t *testing.T) {
	got := E820(4 << 30)
	want := []E820Entry{
		{0, 0x9fc00, E820RAM},
		{0x9fc00, 0x400, E820Reserved},
		{0xa0000, 0x2000, E820ACPI},
		{0xa2000, 0x100000 - 0xa2000, E820Reserved},
		{0x100000, 0xc0000000 - 0x100000, E820RAM},
		{0x100000000, 1 << 30, E820RAM},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("E820(4G) =\n%#v\nwant\n%#v", got, want)
	}
	// Entries are sorted and never overlap, and every RAM entry is backed.
	for i := 1; i < len(got); i++ {
		if got[i].Addr < got[i-1].Addr+got[i-1].Size {
			t.Errorf("entry %d overlaps entry %d", i, i-1)
		}
	}
}

func TestE820SmallRAMIsClipped(t *testing.T) {
	// 512 KiB of RAM: only the part of the low map that exists.
	got := E820ForMemory(memory.FromBytes(make([]byte, 512<<10)))
	want := []E820Entry{{0, 512 << 10, E820RAM}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestE820ForMemoryMatchesE820(t *testing.T) {
	m, err := memory.New(memory.Region{GPA: 0, Data: make([]byte, 2<<20)}, memory.Region{GPA: 4 << 20, Data: make([]byte, 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	got := E820ForMemory(m)
	last := got[len(got)-1]
	if last != (E820Entry{4 << 20, 1 << 20, E820RAM}) {
		t.Errorf("last entry %#v", last)
	}
	if got[len(got)-2] != (E820Entry{0x100000, 1 << 20, E820RAM}) {
		t.Errorf("first high entry %#v", got[len(got)-2])
	}
}
