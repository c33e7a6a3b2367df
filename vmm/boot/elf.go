package boot

import (
	"encoding/binary"
	"fmt"
)

// ELF constants (System V ABI, "ELF Header" and "Program Header"; the
// XEN_ELFNOTE_* numbers are from xen/include/public/elfnote.h).
const (
	elfClass32    = 1
	elfClass64    = 2
	elfDataLSB    = 1
	emI386        = 3
	emX86_64      = 62
	ptLoad        = 1
	ptNote        = 4
	maxPhdrs      = 128 // more program headers than any kernel has
	xenPhys32Note = 18  // XEN_ELFNOTE_PHYS32_ENTRY
)

// elfSegment is one PT_LOAD program header, by physical address.
type elfSegment struct {
	Offset, Paddr, Filesz, Memsz uint64
}

// elfImage is what the PVH loader needs from an ELF file.
type elfImage struct {
	Loads []elfSegment
	Notes [][]byte // contents of each PT_NOTE segment
}

// parseELF reads the program headers of an ELF32 or ELF64 little-endian x86
// executable and checks that every segment it names lies inside the file.
func parseELF(b []byte) (elfImage, error) {
	var img elfImage
	if len(b) < 52 || string(b[:4]) != "\x7fELF" {
		return img, fmt.Errorf("no ELF magic: %w", ErrBadELF)
	}
	if b[5] != elfDataLSB {
		return img, fmt.Errorf("not little-endian: %w", ErrBadELF)
	}
	le := binary.LittleEndian
	var phoff, phentsize, phnum uint64
	switch b[4] {
	case elfClass64:
		if len(b) < 64 || le.Uint16(b[18:]) != emX86_64 {
			return img, fmt.Errorf("ELF64 header or machine: %w", ErrBadELF)
		}
		phoff, phentsize, phnum = le.Uint64(b[32:]), uint64(le.Uint16(b[54:])), uint64(le.Uint16(b[56:]))
		if phentsize < 56 {
			return img, fmt.Errorf("phentsize %d: %w", phentsize, ErrBadELF)
		}
	case elfClass32:
		if m := le.Uint16(b[18:]); m != emI386 && m != emX86_64 {
			return img, fmt.Errorf("ELF32 machine %d: %w", m, ErrBadELF)
		}
		phoff, phentsize, phnum = uint64(le.Uint32(b[28:])), uint64(le.Uint16(b[42:])), uint64(le.Uint16(b[44:]))
		if phentsize < 32 {
			return img, fmt.Errorf("phentsize %d: %w", phentsize, ErrBadELF)
		}
	default:
		return img, fmt.Errorf("ELF class %d: %w", b[4], ErrBadELF)
	}
	if phnum == 0 || phnum > maxPhdrs {
		return img, fmt.Errorf("%d program headers: %w", phnum, ErrBadELF)
	}
	if phoff > uint64(len(b)) || phnum*phentsize > uint64(len(b))-phoff {
		return img, fmt.Errorf("program headers past end of file: %w", ErrTruncated)
	}
	for i := range phnum {
		if err := img.addPhdr(b, b[phoff+i*phentsize:], b[4] == elfClass64); err != nil {
			return img, fmt.Errorf("program header %d: %w", i, err)
		}
	}
	return img, nil
}

// addPhdr decodes one program header and records it if it is PT_LOAD or
// PT_NOTE.
func (img *elfImage) addPhdr(file, ph []byte, is64 bool) error {
	le := binary.LittleEndian
	var typ uint32
	var s elfSegment
	if is64 {
		typ = le.Uint32(ph)
		s = elfSegment{le.Uint64(ph[8:]), le.Uint64(ph[24:]), le.Uint64(ph[32:]), le.Uint64(ph[40:])}
	} else {
		typ = le.Uint32(ph)
		s = elfSegment{uint64(le.Uint32(ph[4:])), uint64(le.Uint32(ph[12:])), uint64(le.Uint32(ph[16:])), uint64(le.Uint32(ph[20:]))}
	}
	if typ != ptLoad && typ != ptNote {
		return nil
	}
	if s.Offset > uint64(len(file)) || s.Filesz > uint64(len(file))-s.Offset {
		return fmt.Errorf("segment [%#x, +%#x) past end of file: %w", s.Offset, s.Filesz, ErrTruncated)
	}
	if typ == ptNote {
		img.Notes = append(img.Notes, file[s.Offset:s.Offset+s.Filesz])
		return nil
	}
	if s.Filesz > s.Memsz {
		return fmt.Errorf("filesz %#x > memsz %#x: %w", s.Filesz, s.Memsz, ErrBadELF)
	}
	if s.Paddr+s.Memsz < s.Paddr {
		return fmt.Errorf("segment at %#x+%#x overflows: %w", s.Paddr, s.Memsz, ErrBadELF)
	}
	if s.Memsz > 0 {
		img.Loads = append(img.Loads, s)
	}
	return nil
}

// pvhEntry finds XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen") in the notes. Its
// descriptor is a 32- or 64-bit physical address that must fit in 32 bits.
func (img *elfImage) pvhEntry() (uint32, error) {
	le := binary.LittleEndian
	for _, n := range img.Notes {
		for len(n) >= 12 {
			namesz, descsz, typ := uint64(le.Uint32(n)), uint64(le.Uint32(n[4:])), le.Uint32(n[8:])
			nameEnd := 12 + alignUp(namesz, 4)
			descEnd := nameEnd + alignUp(descsz, 4)
			if namesz > uint64(len(n)) || descsz > uint64(len(n)) || descEnd > uint64(len(n)) {
				return 0, fmt.Errorf("note runs past its segment: %w", ErrBadELF)
			}
			name, desc := n[12:12+namesz], n[nameEnd:nameEnd+descsz]
			if typ == xenPhys32Note && string(name) == "Xen\x00" {
				switch descsz {
				case 4:
					return le.Uint32(desc), nil
				case 8:
					if v := le.Uint64(desc); v <= 0xffffffff {
						return uint32(v), nil
					}
				}
				return 0, fmt.Errorf("PHYS32_ENTRY descriptor of %d bytes: %w", descsz, ErrBadELF)
			}
			n = n[descEnd:]
		}
	}
	return 0, ErrNoPVHEntry
}
