package boot

import (
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// E820 memory types (ACPI 6.5 §15 "System Address Map Interfaces"; the same
// numbers are used by boot_params.e820_table and hvm_memmap_table_entry).
const (
	E820RAM      = 1 // usable RAM
	E820Reserved = 2 // reserved, not usable
	E820ACPI     = 3 // ACPI tables, reclaimable after they are read
	E820NVS      = 4 // ACPI non-volatile storage
	E820Unusable = 5 // memory with errors
)

// E820Entry is one range of the guest's physical memory map.
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// Range is a half-open range of guest physical addresses [Start, End).
type Range struct {
	Start, End uint64
}

// RAMRanges returns where size bytes of guest RAM go in this layout: from 0
// up to the MMIO hole, and the rest from 4 GiB up. The VMM allocates one
// memory region per range.
func RAMRanges(size uint64) []Range {
	if size == 0 {
		return nil
	}
	if size <= MMIOHoleStart {
		return []Range{{0, size}}
	}
	return []Range{{0, MMIOHoleStart}, {MMIOHoleEnd, MMIOHoleEnd + size - MMIOHoleStart}}
}

// E820 returns the memory map for size bytes of RAM laid out by RAMRanges.
func E820(size uint64) []E820Entry {
	return e820For(RAMRanges(size))
}

// E820ForMemory returns the memory map for the RAM regions of mem.
func E820ForMemory(mem *memory.Memory) []E820Entry {
	var rs []Range
	for _, r := range mem.Regions() {
		rs = append(rs, Range{r.GPA, r.End()})
	}
	return e820For(rs)
}

// lowMap is the fixed map of the first MiB. Each range is reported only where
// guest RAM backs it, so the map never claims memory that does not exist.
var lowMap = []E820Entry{
	{0, EBDAStart, E820RAM},
	{EBDAStart, ACPIStart - EBDAStart, E820Reserved},
	{ACPIStart, ACPIEnd - ACPIStart, E820ACPI},
	{ACPIEnd, HighMemStart - ACPIEnd, E820Reserved},
}

// e820For builds the map: the fixed low-memory map clipped to RAM, then every
// RAM range above 1 MiB as usable RAM.
func e820For(ram []Range) []E820Entry {
	var out []E820Entry
	for _, r := range ram {
		for _, l := range lowMap {
			s, e := max(r.Start, l.Addr), min(r.End, l.Addr+l.Size)
			if s < e {
				out = appendE820(out, E820Entry{s, e - s, l.Type})
			}
		}
		if s := max(r.Start, HighMemStart); s < r.End {
			out = appendE820(out, E820Entry{s, r.End - s, E820RAM})
		}
	}
	return out
}

// appendE820 appends e, merging it into the last entry when they touch and
// have the same type.
func appendE820(out []E820Entry, e E820Entry) []E820Entry {
	if n := len(out); n > 0 && out[n-1].Type == e.Type && out[n-1].Addr+out[n-1].Size == e.Addr {
		out[n-1].Size += e.Size
		return out
	}
	return append(out, e)
}

// ramContains reports whether one RAM region of mem holds all of
// [start, end).
func ramContains(mem *memory.Memory, start, end uint64) bool {
	if end < start {
		return false
	}
	_, err := mem.Slice(start, end-start)
	return err == nil
}
