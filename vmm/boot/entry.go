package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// Segment is one segment register as the vCPU should hold it. Its fields
// mirror struct kvm_segment so the VMM core can copy them one by one.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8 // descriptor type field (bits 8..11 of the access byte)
	Present  uint8
	DPL      uint8
	DB       uint8 // default operand size: 1 for 32-bit segments
	S        uint8 // 1 for code/data, 0 for system (TSS, LDT)
	L        uint8 // 1 for a 64-bit code segment
	G        uint8 // limit in 4 KiB units
	AVL      uint8
	Unusable uint8
}

// DescriptorTable is a GDTR or IDTR value.
type DescriptorTable struct {
	Base  uint64
	Limit uint16
}

// EntryState is the register state the boot vCPU (vCPU 0) starts in. The
// application processors stay in their reset state: Linux starts them with
// INIT/SIPI through the in-kernel LAPIC.
type EntryState struct {
	LongMode bool // true for the 64-bit bzImage entry, false for PVH

	RIP, RSP, RSI, RBX, RFLAGS uint64
	CR0, CR3, CR4, EFER        uint64

	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment // architectural values; KVM's reset values also do
	GDT, IDT               DescriptorTable
}

// Control register and EFER bits (Intel SDM vol. 3, §2.5 and §2.2.1).
const (
	CR0PE   = 1 << 0  // protected mode
	CR0ET   = 1 << 4  // extension type, hard-wired to 1 on modern CPUs
	CR0NE   = 1 << 5  // native x87 error reporting
	CR0PG   = 1 << 31 // paging
	CR4PAE  = 1 << 5  // physical address extension, required for long mode
	EFERLME = 1 << 8  // long mode enable
	EFERLMA = 1 << 10 // long mode active
)

// GDT selectors. boot.rst ("64-bit Boot Protocol") requires __BOOT_CS = 0x10
// and __BOOT_DS = 0x18; PVH needs any flat 32-bit code and data segments and
// uses the same slots.
const (
	SelectorCode = 0x10
	SelectorData = 0x18
	SelectorTSS  = 0x20
)

// GDT descriptors (Intel SDM vol. 3, §3.4.5): flat 4 GiB, DPL 0.
const (
	gdtCode64 = 0x00af9b000000ffff // present, code exec/read accessed, L=1, G=1
	gdtCode32 = 0x00cf9b000000ffff // present, code exec/read accessed, D=1, G=1
	gdtData   = 0x00cf93000000ffff // present, data read/write accessed, D/B=1, G=1
	gdtTSS    = 0x00008b0000000067 // present, busy 32-bit TSS, base 0, limit 0x67
	gdtSize   = 5 * 8
)

// Page table entry bits (Intel SDM vol. 3, §4.5).
const (
	ptePresent = 1 << 0
	pteWrite   = 1 << 1
	ptePS      = 1 << 7 // 2 MiB page in a page directory entry
)

// writeGDT writes the boot GDT (null, null, code, data, TSS) at GDTAddr and an
// empty IDT at IDTAddr.
func writeGDT(mem *memory.Memory, code uint64) error {
	var b [gdtSize]byte
	for i, d := range []uint64{0, 0, code, gdtData, gdtTSS} {
		binary.LittleEndian.PutUint64(b[i*8:], d)
	}
	if err := mem.WriteAt(b[:], GDTAddr); err != nil {
		return fmt.Errorf("write GDT: %w", err)
	}
	if err := mem.WriteAt(make([]byte, 8), IDTAddr); err != nil {
		return fmt.Errorf("write IDT: %w", err)
	}
	return nil
}

// writePageTables writes identity page tables for the first 4 GiB with 2 MiB
// pages: PML4[0] → PDPT, PDPT[0..3] → four page directories.
func writePageTables(mem *memory.Memory) error {
	tables, err := mem.Slice(PML4Addr, PDAddr+4*0x1000-PML4Addr)
	if err != nil {
		return fmt.Errorf("write page tables: %w", err)
	}
	clear(tables)
	le := binary.LittleEndian
	le.PutUint64(tables[0:], PDPTAddr|ptePresent|pteWrite)
	pdpt := tables[PDPTAddr-PML4Addr:]
	pd := tables[PDAddr-PML4Addr:]
	for i := range uint64(4) {
		le.PutUint64(pdpt[i*8:], (PDAddr+i*0x1000)|ptePresent|pteWrite)
	}
	for i := range uint64(4 * 512) {
		le.PutUint64(pd[i*8:], (i<<21)|ptePresent|pteWrite|ptePS)
	}
	return nil
}

// flatSegments returns the flat code and data segments for the mode.
func flatSegments(longMode bool) (code, data Segment) {
	code = Segment{Limit: 0xffffffff, Selector: SelectorCode, Type: 0xb, Present: 1, S: 1, G: 1}
	if longMode {
		code.L = 1
	} else {
		code.DB = 1
	}
	data = Segment{Limit: 0xffffffff, Selector: SelectorData, Type: 0x3, Present: 1, DB: 1, S: 1, G: 1}
	return code, data
}

// entryState writes the GDT (and, for long mode, the page tables) and returns
// the matching register state with RIP = rip.
func entryState(mem *memory.Memory, longMode bool, rip uint64) (EntryState, error) {
	code := uint64(gdtCode32)
	if longMode {
		code = gdtCode64
	}
	if err := writeGDT(mem, code); err != nil {
		return EntryState{}, err
	}
	cs, ds := flatSegments(longMode)
	s := EntryState{
		LongMode: longMode,
		RIP:      rip, RSP: BootStack, RFLAGS: 0x2,
		CR0: CR0PE | CR0ET | CR0NE,
		CS:  cs, DS: ds, ES: ds, FS: ds, GS: ds, SS: ds,
		TR:  Segment{Limit: 0x67, Selector: SelectorTSS, Type: 0xb, Present: 1},
		LDT: Segment{Limit: 0xffff, Type: 0x2, Present: 1},
		GDT: DescriptorTable{Base: GDTAddr, Limit: gdtSize - 1},
		IDT: DescriptorTable{Base: IDTAddr, Limit: 0},
	}
	if longMode {
		if err := writePageTables(mem); err != nil {
			return EntryState{}, err
		}
		s.CR0 |= CR0PG
		s.CR3 = PML4Addr
		s.CR4 = CR4PAE
		s.EFER = EFERLME | EFERLMA
	}
	return s, nil
}
