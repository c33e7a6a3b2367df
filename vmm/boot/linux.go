package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// boot_params ("zero page") offsets outside the setup header, from
// arch/x86/include/uapi/asm/bootparam.h and Documentation/arch/x86/zero-page.rst.
const (
	bpAcpiRsdpAddr    = 0x070
	bpExtRamdiskImage = 0x0c0
	bpExtRamdiskSize  = 0x0c4
	bpExtCmdLinePtr   = 0x0c8
	bpE820Entries     = 0x1e8
	bpE820Table       = 0x2d0
	bpE820Max         = 128 // E820_MAX_ENTRIES_ZEROPAGE
	e820EntrySize     = 20
	zeroPageSize      = 0x1000
	pageSize          = 0x1000
	// entry64Offset is where the 64-bit entry point lies in the
	// protected-mode kernel (boot.rst, "64-bit Boot Protocol").
	entry64Offset = 0x200
)

// LoadLinux loads a bzImage, its initrd and its command line into mem,
// writes boot_params, the e820 map, the boot GDT and identity page tables,
// and returns the state in which vCPU 0 enters the kernel's 64-bit entry
// point. It follows kernel Documentation/arch/x86/boot.rst ("64-bit Boot
// Protocol"). boot_params.acpi_rsdp_addr points at RSDPAddr, where
// acpi.Build writes the RSDP. Nothing is written to mem before the image,
// the initrd and the command line have all been checked.
func LoadLinux(mem *memory.Memory, kernel, initrd []byte, cmdline string) (EntryState, error) {
	h, err := ParseSetupHeader(kernel)
	if err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: %w", err)
	}
	load, err := kernelLoadAddr(mem, h)
	if err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: %w", err)
	}
	if err := checkCmdline(cmdline, h.CmdlineSize); err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: %w", err)
	}
	kernelEnd := load + max(uint64(h.InitSize), uint64(h.KernelFileSize))
	var rd uint64
	if len(initrd) > 0 {
		rd, err = placeInitrd(mem, uint64(len(initrd)), uint64(h.InitrdAddrMax), Range{load, kernelEnd})
		if err != nil {
			return EntryState{}, fmt.Errorf("load bzImage: %w", err)
		}
	}
	e820 := E820ForMemory(mem)
	if len(e820) > bpE820Max {
		return EntryState{}, fmt.Errorf("load bzImage: %d e820 entries, boot_params holds %d", len(e820), bpE820Max)
	}
	if err := mem.WriteAt(kernel[h.KernelOffset:], load); err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: copy kernel to %#x: %w", load, err)
	}
	if len(initrd) > 0 {
		if err := mem.WriteAt(initrd, rd); err != nil {
			return EntryState{}, fmt.Errorf("load bzImage: copy initrd to %#x: %w", rd, err)
		}
	}
	if err := writeCmdline(mem, cmdline); err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: %w", err)
	}
	zp := bootParams(kernel, h, rd, uint64(len(initrd)), e820)
	if err := mem.WriteAt(zp, ZeroPage); err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: write boot_params: %w", err)
	}
	s, err := entryState(mem, true, load+entry64Offset)
	if err != nil {
		return EntryState{}, fmt.Errorf("load bzImage: %w", err)
	}
	s.RSI = ZeroPage
	return s, nil
}

// kernelLoadAddr picks where the protected-mode kernel goes: pref_address,
// or, for a relocatable kernel, 1 MiB rounded up to kernel_alignment. The
// whole [addr, addr+init_size) must be RAM below the MMIO hole, because the
// kernel decompresses itself there.
func kernelLoadAddr(mem *memory.Memory, h SetupHeader) (uint64, error) {
	need := max(uint64(h.InitSize), uint64(h.KernelFileSize))
	cands := []uint64{h.PrefAddress}
	if h.Relocatable {
		cands = append(cands, alignUp(HighMemStart, uint64(h.KernelAlign)))
	}
	for _, a := range cands {
		if a >= HighMemStart && a+need <= MMIOHoleStart && ramContains(mem, a, a+need) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%#x bytes at %#x (relocatable %v): %w", need, h.PrefAddress, h.Relocatable, ErrKernelTooBig)
}

// alignUp rounds v up to a multiple of a (a power of two).
func alignUp(v, a uint64) uint64 {
	if a == 0 {
		return v
	}
	return (v + a - 1) &^ (a - 1)
}

// checkCmdline refuses a command line longer than the kernel accepts
// (cmdline_size, NUL excluded) or than the command line area holds.
func checkCmdline(cmdline string, limit uint32) error {
	n := uint64(len(cmdline))
	if n > uint64(limit) || n+1 > CmdlineMax {
		return fmt.Errorf("%d bytes, limit %d: %w", n, min(uint64(limit), CmdlineMax-1), ErrCmdlineTooLong)
	}
	for i := 0; i < len(cmdline); i++ {
		if cmdline[i] == 0 {
			return fmt.Errorf("NUL byte at %d: %w", i, ErrCmdlineTooLong)
		}
	}
	return nil
}

// writeCmdline writes the command line and its NUL at CmdlineAddr.
func writeCmdline(mem *memory.Memory, cmdline string) error {
	b := append([]byte(cmdline), 0)
	if err := mem.WriteAt(b, CmdlineAddr); err != nil {
		return fmt.Errorf("write cmdline: %w", err)
	}
	return nil
}

// placeInitrd returns the highest page-aligned address for size bytes of
// initrd such that it ends at or below addrMax+1 (initrd_addr_max is the
// highest byte it may occupy), lies in one RAM region below the MMIO hole,
// and overlaps neither the low boot area nor avoid (the kernel's init_size
// range).
func placeInitrd(mem *memory.Memory, size, addrMax uint64, avoid Range) (uint64, error) {
	limit := min(addrMax+1, MMIOHoleStart)
	for i := len(mem.Regions()) - 1; i >= 0; i-- {
		r := mem.Regions()[i]
		lo, hi := max(r.GPA, HighMemStart), min(r.End(), limit)
		if hi <= lo || hi-lo < size {
			continue
		}
		start := (hi - size) &^ (pageSize - 1)
		if start < avoid.End && start+size > avoid.Start {
			// Below the kernel instead, if there is room.
			if avoid.Start < size {
				continue
			}
			start = (avoid.Start - size) &^ (pageSize - 1)
		}
		if start >= lo {
			return start, nil
		}
	}
	return 0, fmt.Errorf("%d bytes below %#x: %w", size, limit, ErrInitrdTooBig)
}

// bootParams builds the zero page: the image's setup header copied in, then
// the fields a boot loader must set (boot.rst, "Details of Header Fields").
func bootParams(kernel []byte, h SetupHeader, rd, rdSize uint64, e820 []E820Entry) []byte {
	zp := make([]byte, zeroPageSize)
	copy(zp[hdrStart:h.HeaderEnd], kernel[hdrStart:h.HeaderEnd])
	le := binary.LittleEndian
	zp[offTypeOfLoader] = loaderTypeFF
	zp[offLoadFlags] |= loadedHigh | canUseHeap
	le.PutUint16(zp[offHeapEndPtr:], heapEndPtr)
	le.PutUint32(zp[offCmdLinePtr:], uint32(CmdlineAddr))
	le.PutUint32(zp[bpExtCmdLinePtr:], uint32(uint64(CmdlineAddr)>>32))
	le.PutUint32(zp[offRamdiskImage:], uint32(rd))
	le.PutUint32(zp[bpExtRamdiskImage:], uint32(rd>>32))
	le.PutUint32(zp[offRamdiskSize:], uint32(rdSize))
	le.PutUint32(zp[bpExtRamdiskSize:], uint32(rdSize>>32))
	le.PutUint64(zp[bpAcpiRsdpAddr:], RSDPAddr)
	zp[bpE820Entries] = byte(len(e820))
	for i, e := range e820 {
		o := bpE820Table + i*e820EntrySize
		le.PutUint64(zp[o:], e.Addr)
		le.PutUint64(zp[o+8:], e.Size)
		le.PutUint32(zp[o+16:], e.Type)
	}
	return zp
}
