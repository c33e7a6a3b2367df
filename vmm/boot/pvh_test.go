package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// testSeg is a PT_LOAD segment for buildELF: data goes at paddr, followed by
// memsz-len(data) zero bytes.
type testSeg struct {
	paddr uint64
	data  []byte
	memsz uint64
}

// xenNote encodes an ELF note with owner "Xen".
func xenNote(typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [3]uint32{4, uint32(len(desc)), typ})
	b.WriteString("Xen\x00")
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// entryNote is XEN_ELFNOTE_PHYS32_ENTRY with an 8-byte descriptor, as
// Linux's 64-bit vmlinux has it.
func entryNote(entry uint64) []byte {
	d := make([]byte, 8)
	binary.LittleEndian.PutUint64(d, entry)
	return xenNote(xenPhys32Note, d)
}

// buildELF writes an ELF executable (System V ABI layouts) with one PT_NOTE
// segment holding notes (if any) and the given PT_LOAD segments.
func buildELF(is64 bool, notes []byte, segs ...testSeg) []byte {
	le := binary.LittleEndian
	ehsize, phsize := 52, 32
	if is64 {
		ehsize, phsize = 64, 56
	}
	nph := len(segs)
	if notes != nil {
		nph++
	}
	off := ehsize + nph*phsize
	b := make([]byte, off)
	copy(b, "\x7fELF")
	b[5], b[6] = elfDataLSB, 1
	le.PutUint16(b[16:], 2) // ET_EXEC
	type ph struct{ typ, off, paddr, filesz, memsz uint64 }
	var phs []ph
	if notes != nil {
		phs = append(phs, ph{ptNote, uint64(len(b)), 0, uint64(len(notes)), uint64(len(notes))})
		b = append(b, notes...)
	}
	for _, s := range segs {
		phs = append(phs, ph{ptLoad, uint64(len(b)), s.paddr, uint64(len(s.data)), s.memsz})
		b = append(b, s.data...)
	}
	if is64 {
		b[4] = elfClass64
		le.PutUint16(b[18:], emX86_64)
		le.PutUint64(b[32:], uint64(ehsize))
		le.PutUint16(b[54:], uint16(phsize))
		le.PutUint16(b[56:], uint16(nph))
	} else {
		b[4] = elfClass32
		le.PutUint16(b[18:], emI386)
		le.PutUint32(b[28:], uint32(ehsize))
		le.PutUint16(b[42:], uint16(phsize))
		le.PutUint16(b[44:], uint16(nph))
	}
	for i, p := range phs {
		o := ehsize + i*phsize
		if is64 {
			le.PutUint32(b[o:], uint32(p.typ))
			le.PutUint64(b[o+8:], p.off)
			le.PutUint64(b[o+16:], p.paddr|0xffffffff80000000) // vaddr differs, as in vmlinux
			le.PutUint64(b[o+24:], p.paddr)
			le.PutUint64(b[o+32:], p.filesz)
			le.PutUint64(b[o+40:], p.memsz)
		} else {
			le.PutUint32(b[o:], uint32(p.typ))
			le.PutUint32(b[o+4:], uint32(p.off))
			le.PutUint32(b[o+8:], uint32(p.paddr))
			le.PutUint32(b[o+12:], uint32(p.paddr))
			le.PutUint32(b[o+16:], uint32(p.filesz))
			le.PutUint32(b[o+20:], uint32(p.memsz))
		}
	}
	return b
}

func TestLoadPVH(t *testing.T) {
	for _, is64 := range []bool{true, false} {
		const ramSize = 32 << 20
		ram := make([]byte, ramSize)
		for i := range ram {
			ram[i] = 0xcc // poison, to see that bss is zeroed
		}
		mem := memory.FromBytes(ram)
		code := []byte{0xfa, 0xf4, 0xeb, 0xfd} // cli; hlt; jmp
		data := []byte("data segment")
		elf := buildELF(is64, entryNote(0x100000), testSeg{0x100000, code, 0x1000}, testSeg{0x200000, data, uint64(len(data))})
		initrd := bytes.Repeat([]byte{0x5a}, 5000)
		s, err := LoadPVH(mem, elf, initrd, "console=ttyS0")
		if err != nil {
			t.Fatalf("64-bit %v: %v", is64, err)
		}
		if s.LongMode || s.RIP != 0x100000 || s.RBX != ZeroPage || s.CR0&CR0PG != 0 || s.CS.DB != 1 {
			t.Errorf("64-bit %v: entry %+v", is64, s)
		}
		if !bytes.Equal(ram[0x100000:0x100004], code) || !bytes.Equal(ram[0x100004:0x101000], make([]byte, 0x1000-4)) {
			t.Errorf("64-bit %v: code segment or its bss wrong", is64)
		}
		if !bytes.Equal(ram[0x200000:0x200000+len(data)], data) || ram[0x200000+len(data)] != 0xcc {
			t.Errorf("64-bit %v: data segment wrong or overrun", is64)
		}
		checkStartInfo(t, mem, initrd, "console=ttyS0")
	}
}

// checkStartInfo decodes hvm_start_info at ZeroPage and checks every field.
func checkStartInfo(t *testing.T, mem *memory.Memory, initrd []byte, cmdline string) {
	t.Helper()
	u32 := func(a uint64) uint32 { v, _ := mem.Uint32(a); return v }
	u64 := func(a uint64) uint64 { v, _ := mem.Uint64(a); return v }
	if u32(ZeroPage) != 0x336ec578 || u32(ZeroPage+4) != 1 || u32(ZeroPage+8) != 0 {
		t.Fatalf("magic/version/flags %#x %d %#x", u32(ZeroPage), u32(ZeroPage+4), u32(ZeroPage+8))
	}
	if u32(ZeroPage+12) != 1 {
		t.Fatalf("nr_modules %d", u32(ZeroPage+12))
	}
	mod := u64(ZeroPage + 16)
	rd, size := u64(mod), u64(mod+8)
	got := make([]byte, size)
	mem.ReadAt(got, rd)
	if size != uint64(len(initrd)) || !bytes.Equal(got, initrd) || rd%pageSize != 0 || rd < 0x200000 {
		t.Errorf("initrd module at %#x size %d", rd, size)
	}
	cl := make([]byte, len(cmdline)+1)
	mem.ReadAt(cl, u64(ZeroPage+24))
	if string(cl) != cmdline+"\x00" {
		t.Errorf("cmdline %q", cl)
	}
	if u64(ZeroPage+32) != RSDPAddr {
		t.Errorf("rsdp %#x", u64(ZeroPage+32))
	}
	mm, n := u64(ZeroPage+40), u32(ZeroPage+48)
	want := E820ForMemory(mem)
	if int(n) != len(want) {
		t.Fatalf("memmap entries %d, want %d", n, len(want))
	}
	for i, w := range want {
		o := mm + uint64(i)*24
		if e := (E820Entry{u64(o), u64(o + 8), u32(o + 16)}); e != w || u32(o+20) != 0 {
			t.Errorf("memmap[%d] = %#v, want %#v", i, e, w)
		}
	}
}

func TestLoadPVHWithoutInitrd(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 4<<20))
	elf := buildELF(false, xenNote(xenPhys32Note, []byte{0x10, 0, 0x10, 0}), testSeg{0x100000, make([]byte, 0x100), 0x100})
	s, err := LoadPVH(mem, elf, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.RIP != 0x100010 {
		t.Errorf("4-byte entry note: rip %#x", s.RIP)
	}
	if n, _ := mem.Uint32(ZeroPage + 12); n != 0 {
		t.Errorf("nr_modules %d without an initrd", n)
	}
}

func TestLoadPVHRefuses(t *testing.T) {
	ok := testSeg{0x100000, []byte{0xf4}, 0x10}
	other := []byte{0, 0, 0, 0}
	trunc := buildELF(true, entryNote(0x100000), ok)
	for _, tc := range []struct {
		name string
		elf  []byte
		want error
	}{
		{"not ELF", []byte("MZ this is not an ELF file at all, not even a little bit"), ErrBadELF},
		{"no entry note", buildELF(true, xenNote(1, other), ok), ErrNoPVHEntry},
		{"no notes", buildELF(true, nil, ok), ErrNoPVHEntry},
		{"entry outside image", buildELF(true, entryNote(0x300000), ok), ErrBadELF},
		{"entry above 4G", buildELF(true, entryNote(1<<32), ok), ErrBadELF},
		{"segment below 1 MiB (over boot data)", buildELF(true, entryNote(0x7000), testSeg{0x7000, []byte{1}, 0x1000}), ErrBadELF},
		{"segment in MMIO hole", buildELF(true, entryNote(0xc0000000), testSeg{0xc0000000, []byte{1}, 1}), ErrBadELF},
		{"segment past RAM", buildELF(true, entryNote(0x100000), testSeg{0x100000, []byte{1}, 8 << 20}), ErrKernelTooBig},
		{"filesz > memsz", buildELF(true, entryNote(0x100000), testSeg{0x100000, []byte{1, 2}, 1}), ErrBadELF},
		{"segment past end of file", trunc[:len(trunc)-1], ErrTruncated},
		{"no PT_LOAD", buildELF(true, entryNote(0x100000)), ErrBadELF},
	} {
		ram := make([]byte, 4<<20)
		_, err := LoadPVH(memory.FromBytes(ram), tc.elf, nil, "")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			continue
		}
		if !bytes.Equal(ram, make([]byte, len(ram))) {
			t.Errorf("%s: memory written before refusing", tc.name)
		}
	}
}
