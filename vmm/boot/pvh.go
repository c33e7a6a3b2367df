package boot

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// hvm_start_info layout (xen/include/public/arch-x86/hvm/start_info.h,
// version 1). The structure, one module entry and the memory map share the
// page at ZeroPage.
const (
	startInfoMagic   = 0x336ec578
	startInfoVersion = 1
	startInfoSize    = 56
	modlistAddr      = ZeroPage + 0x40 // one hvm_modlist_entry (32 bytes)
	memmapAddr       = ZeroPage + 0x80 // hvm_memmap_table_entry array (24 bytes each)
	memmapEntrySize  = 24
	memmapMax        = (zeroPageSize - 0x80) / memmapEntrySize
)

// LoadPVH loads an ELF32 or ELF64 kernel through the PVH boot ABI: it copies
// every PT_LOAD segment to its physical address, places the initrd high and
// the command line at CmdlineAddr, writes hvm_start_info (with the e820 map
// and RSDPAddr) at ZeroPage, and returns the 32-bit protected-mode entry
// state at XEN_ELFNOTE_PHYS32_ENTRY with EBX pointing at hvm_start_info
// (xen/include/public/arch-x86/hvm/start_info.h, "Start of day structure").
//
// Segments must lie in RAM between HighMemStart and the MMIO hole, so they
// cannot overwrite the boot data below 1 MiB. Nothing is written to mem
// before the whole image has been checked.
func LoadPVH(mem *memory.Memory, image, initrd []byte, cmdline string) (EntryState, error) {
	img, err := parseELF(image)
	if err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	entry, err := img.pvhEntry()
	if err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	span, err := checkSegments(mem, img.Loads)
	if err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	if uint64(entry) < span.Start || uint64(entry) >= span.End {
		return EntryState{}, fmt.Errorf("load PVH ELF: entry %#x outside the loaded image [%#x, %#x): %w", entry, span.Start, span.End, ErrBadELF)
	}
	if err := checkCmdline(cmdline, math.MaxUint32); err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	var rd uint64
	if len(initrd) > 0 {
		if rd, err = placeInitrd(mem, uint64(len(initrd)), math.MaxUint32, span); err != nil {
			return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
		}
	}
	e820 := E820ForMemory(mem)
	if len(e820) > memmapMax {
		return EntryState{}, fmt.Errorf("load PVH ELF: %d memory map entries, room for %d", len(e820), memmapMax)
	}
	for _, s := range img.Loads {
		if err := loadSegment(mem, image, s); err != nil {
			return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
		}
	}
	if len(initrd) > 0 {
		if err := mem.WriteAt(initrd, rd); err != nil {
			return EntryState{}, fmt.Errorf("load PVH ELF: copy initrd to %#x: %w", rd, err)
		}
	}
	if err := writeCmdline(mem, cmdline); err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	if err := mem.WriteAt(startInfo(rd, uint64(len(initrd)), e820), ZeroPage); err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: write start_info: %w", err)
	}
	s, err := entryState(mem, false, uint64(entry))
	if err != nil {
		return EntryState{}, fmt.Errorf("load PVH ELF: %w", err)
	}
	s.RBX = ZeroPage
	return s, nil
}

// checkSegments checks that every PT_LOAD segment lies in RAM in
// [HighMemStart, MMIOHoleStart) and returns the range they span.
func checkSegments(mem *memory.Memory, loads []elfSegment) (Range, error) {
	if len(loads) == 0 {
		return Range{}, fmt.Errorf("no PT_LOAD segment: %w", ErrBadELF)
	}
	span := Range{Start: math.MaxUint64}
	for _, s := range loads {
		end := s.Paddr + s.Memsz // parseELF refused overflow
		if s.Paddr < HighMemStart || end > MMIOHoleStart {
			return Range{}, fmt.Errorf("segment [%#x, %#x) outside [1 MiB, MMIO hole): %w", s.Paddr, end, ErrBadELF)
		}
		if !ramContains(mem, s.Paddr, end) {
			return Range{}, fmt.Errorf("segment [%#x, %#x) not in guest RAM: %w", s.Paddr, end, ErrKernelTooBig)
		}
		span.Start, span.End = min(span.Start, s.Paddr), max(span.End, end)
	}
	return span, nil
}

// loadSegment copies a segment's file bytes and zeroes the rest of memsz.
func loadSegment(mem *memory.Memory, image []byte, s elfSegment) error {
	dst, err := mem.Slice(s.Paddr, s.Memsz)
	if err != nil {
		return fmt.Errorf("segment at %#x: %w", s.Paddr, err)
	}
	n := copy(dst, image[s.Offset:s.Offset+s.Filesz])
	clear(dst[n:])
	return nil
}

// startInfo builds hvm_start_info, its module list (the initrd, if any) and
// its memory map, as one block to write at ZeroPage.
func startInfo(rd, rdSize uint64, e820 []E820Entry) []byte {
	b := make([]byte, memmapAddr-ZeroPage+len(e820)*memmapEntrySize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], startInfoMagic)
	le.PutUint32(b[4:], startInfoVersion)
	le.PutUint32(b[8:], 0) // flags
	if rdSize > 0 {
		le.PutUint32(b[12:], 1) // nr_modules
		le.PutUint64(b[16:], modlistAddr)
		m := b[modlistAddr-ZeroPage:]
		le.PutUint64(m[0:], rd)
		le.PutUint64(m[8:], rdSize)
	}
	le.PutUint64(b[24:], CmdlineAddr)
	le.PutUint64(b[32:], RSDPAddr)
	le.PutUint64(b[40:], memmapAddr)
	le.PutUint32(b[48:], uint32(len(e820)))
	for i, e := range e820 {
		o := memmapAddr - ZeroPage + i*memmapEntrySize
		le.PutUint64(b[o:], e.Addr)
		le.PutUint64(b[o+8:], e.Size)
		le.PutUint32(b[o+16:], e.Type)
	}
	return b
}
