package boot

import (
	"encoding/binary"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// walk translates a virtual address through the 4-level tables in mem the way
// the MMU does (Intel SDM vol. 3 §4.5), returning false on a not-present
// entry.
func walk(t *testing.T, mem *memory.Memory, cr3, va uint64) (uint64, bool) {
	t.Helper()
	const addrMask = 0x000ffffffffff000
	table := cr3 & addrMask
	for level, shift := range []uint{39, 30, 21} {
		e, err := mem.Uint64(table + ((va>>shift)&0x1ff)*8)
		if err != nil {
			t.Fatalf("level %d table at %#x: %v", level, table, err)
		}
		if e&ptePresent == 0 {
			return 0, false
		}
		if level == 2 {
			if e&ptePS == 0 {
				t.Fatalf("PD entry for %#x is not a 2 MiB page", va)
			}
			return e&0x000fffffffe00000 | va&0x1fffff, true
		}
		table = e & addrMask
	}
	return 0, false
}

func TestIdentityPageTables(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 1<<20))
	s, err := entryState(mem, true, 0x1000200)
	if err != nil {
		t.Fatal(err)
	}
	for _, va := range []uint64{0, 0x7000, 0x1000200, 0x3fffffff, 0x40000000, 0xbfffffff, 0xfee00000, 0xffffffff} {
		pa, ok := walk(t, mem, s.CR3, va)
		if !ok || pa != va {
			t.Errorf("va %#x → %#x (present %v)", va, pa, ok)
		}
	}
	if _, ok := walk(t, mem, s.CR3, 0x100000000); ok {
		t.Error("4 GiB is mapped; tables should cover exactly the first 4 GiB")
	}
}

func TestLongModeEntryState(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 1<<20))
	s, err := entryState(mem, true, 0x1000200)
	if err != nil {
		t.Fatal(err)
	}
	if !s.LongMode || s.CR0&(CR0PE|CR0PG) != CR0PE|CR0PG || s.CR4&CR4PAE == 0 || s.EFER != EFERLME|EFERLMA {
		t.Errorf("control registers: %+v", s)
	}
	if s.CS.Selector != 0x10 || s.DS.Selector != 0x18 || s.CS.L != 1 || s.CS.DB != 0 {
		t.Errorf("segments: cs %+v ds %+v", s.CS, s.DS)
	}
	if s.RSP != BootStack || s.RIP != 0x1000200 || s.RFLAGS != 2 {
		t.Errorf("rip %#x rsp %#x rflags %#x", s.RIP, s.RSP, s.RFLAGS)
	}
	// The GDT in memory agrees with the segment registers: decode the code
	// descriptor at 0x10 and the data descriptor at 0x18.
	code, _ := mem.Uint64(GDTAddr + 0x10)
	data, _ := mem.Uint64(GDTAddr + 0x18)
	checkDescriptor(t, code, s.CS)
	checkDescriptor(t, data, s.DS)
	if s.GDT.Base != GDTAddr || s.GDT.Limit != 39 {
		t.Errorf("gdtr %+v", s.GDT)
	}
}

func TestProtectedModeEntryState(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 1<<20))
	s, err := entryState(mem, false, 0x100000)
	if err != nil {
		t.Fatal(err)
	}
	if s.LongMode || s.CR0&CR0PG != 0 || s.CR0&CR0PE == 0 || s.EFER != 0 || s.CR4 != 0 {
		t.Errorf("control registers: %+v", s)
	}
	code, _ := mem.Uint64(GDTAddr + 0x10)
	checkDescriptor(t, code, s.CS)
	if s.CS.DB != 1 || s.CS.L != 0 {
		t.Errorf("cs %+v", s.CS)
	}
	// The page-table area is untouched in 32-bit mode.
	if v, _ := mem.Uint64(PML4Addr); v != 0 {
		t.Errorf("PML4 written for PVH: %#x", v)
	}
}

// checkDescriptor decodes an 8-byte descriptor (Intel SDM vol. 3 §3.4.5) and
// compares it with the segment register value.
func checkDescriptor(t *testing.T, d uint64, s Segment) {
	t.Helper()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], d)
	limit := uint32(d&0xffff) | uint32(d>>48&0xf)<<16
	base := uint64(d>>16&0xffffff) | (d>>56)<<24
	access := b[5]
	flags := b[6] >> 4
	g := flags >> 3 & 1
	if g == 1 {
		limit = limit<<12 | 0xfff
	}
	got := Segment{Base: base, Limit: limit, Selector: s.Selector, Type: access & 0xf, S: access >> 4 & 1,
		DPL: access >> 5 & 3, Present: access >> 7, AVL: flags & 1, L: flags >> 1 & 1, DB: flags >> 2 & 1, G: g}
	if got != s {
		t.Errorf("descriptor %#x decodes to %+v, register holds %+v", d, got, s)
	}
}
