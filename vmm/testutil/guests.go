package testutil

import (
	"encoding/binary"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

// PVHLoadAddr is where the PVH guest's single segment is loaded (1 MiB).
const PVHLoadAddr = 0x100000

// ELF constants (System V ABI, Intel386 supplement).
const (
	elfHeaderSize = 52
	phdrSize      = 32
	ptLoad        = 1
	ptNote        = 4
	// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h).
	xenElfnotePhys32Entry = 18
)

// pvhELF wraps 32-bit code into an ELF32 executable with one PT_LOAD
// segment (the whole file, at PVHLoadAddr) and a PT_NOTE carrying
// XEN_ELFNOTE_PHYS32_ENTRY. build is called with the address its code
// will run at and returns the code.
func pvhELF(build func(codeAddr uint32) []byte) []byte {
	const noteOff = elfHeaderSize + 2*phdrSize
	const noteSize = 12 + 4 + 4 // header, "Xen\0", 32-bit entry
	const codeOff = noteOff + noteSize
	code := build(PVHLoadAddr + codeOff)
	f := make([]byte, codeOff, codeOff+len(code))
	f = append(f, code...)
	le := binary.LittleEndian
	// ELF header: ident, type EXEC, machine 386, version, entry, phoff.
	copy(f, "\x7fELF\x01\x01\x01")            // ELFCLASS32, ELFDATA2LSB, EV_CURRENT
	le.PutUint16(f[16:], 2)                   // e_type = ET_EXEC
	le.PutUint16(f[18:], 3)                   // e_machine = EM_386
	le.PutUint32(f[20:], 1)                   // e_version
	le.PutUint32(f[24:], PVHLoadAddr+codeOff) // e_entry
	le.PutUint32(f[28:], elfHeaderSize)       // e_phoff
	le.PutUint16(f[40:], elfHeaderSize)       // e_ehsize
	le.PutUint16(f[42:], phdrSize)            // e_phentsize
	le.PutUint16(f[44:], 2)                   // e_phnum
	// PT_LOAD: the whole file at PVHLoadAddr, read/write/execute.
	ph := f[elfHeaderSize:]
	le.PutUint32(ph[0:], ptLoad)
	le.PutUint32(ph[4:], 0)               // p_offset
	le.PutUint32(ph[8:], PVHLoadAddr)     // p_vaddr
	le.PutUint32(ph[12:], PVHLoadAddr)    // p_paddr
	le.PutUint32(ph[16:], uint32(len(f))) // p_filesz
	le.PutUint32(ph[20:], uint32(len(f))) // p_memsz
	le.PutUint32(ph[24:], 7)              // p_flags = RWX
	le.PutUint32(ph[28:], 16)             // p_align
	// PT_NOTE: the PVH entry note.
	ph = f[elfHeaderSize+phdrSize:]
	le.PutUint32(ph[0:], ptNote)
	le.PutUint32(ph[4:], noteOff)
	le.PutUint32(ph[16:], noteSize)
	le.PutUint32(ph[20:], noteSize)
	le.PutUint32(ph[28:], 4)
	n := f[noteOff:]
	le.PutUint32(n[0:], 4)                     // namesz
	le.PutUint32(n[4:], 4)                     // descsz
	le.PutUint32(n[8:], xenElfnotePhys32Entry) // type
	copy(n[12:], "Xen\x00")
	le.PutUint32(n[16:], PVHLoadAddr+codeOff) // the 32-bit entry point
	return f
}

// inlineString emits a short jump over marker and its NUL at the start of
// 32-bit code and returns the string's offset in the code.
func (a *asm) inlineString(marker string) uint32 {
	a.emit(0xeb, 0x00) // jmp +0: placeholder, patched below to skip the string
	at := a.pc()
	a.emit([]byte(marker)...)
	a.emit(0)
	a.b[at-1] = byte(a.pc() - at) // jmp over the string
	return uint32(at)
}

// PVHHello returns a PVH ELF guest that writes marker to COM1 and ends the
// VM with exit. It runs in 32-bit protected mode with paging off, as PVH
// enters it.
func PVHHello(marker string, exit Exit) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.puts(codeAddr + a.inlineString(marker))
		a.exit(exit)
		return a.b
	})
}

// RealModeAddr is where RealModeHello is loaded; CS = RealModeAddr>>4.
const RealModeAddr = 0x10000

// RealModeHello returns a flat real-mode image (load it at RealModeAddr with
// vm.Config.Flat) that writes marker to COM1 and ends the VM with exit.
func RealModeHello(marker string, exit Exit) *vm.FlatImage {
	a := &asm{}
	a.emit(0x0e, 0x1f) // push cs; pop ds: address the string through CS
	a.emit(0xeb, 0x00) // jmp over the string, patched below
	msg := a.pc()
	a.emit([]byte(marker)...)
	a.emit(0)
	a.b[3] = byte(a.pc() - 4)
	a.puts(uint32(msg)) // offset within the segment
	a.exit(exit)
	return &vm.FlatImage{Addr: RealModeAddr, Code: a.b}
}

// virtioStatusReg is the Status register of the first virtio-mmio device
// (virtio 1.2 §4.2.2: offset 0x70 from the device base).
const virtioStatusReg = boot.VirtioMMIOBase + 0x70

// PVHBreakVirtio returns a PVH guest that writes marker, then breaks the
// first virtio-mmio device the way a hostile driver might: it sets
// ACKNOWLEDGE|DRIVER|DRIVER_OK without FEATURES_OK (virtio 1.2 §3.1.1 forbids
// it), and halts. The VMM must stop the VM with ExitGuestBrokeDevice.
func PVHBreakVirtio(marker string) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.puts(codeAddr + a.inlineString(marker))
		a.mov32(virtioStatusReg, 1|2|4) // mov dword [status], ACK|DRIVER|DRIVER_OK
		a.hltForever()
		return a.b
	})
}

// PVHTripleFault returns a PVH guest that writes marker to COM1 and then
// executes UD2 with the empty IDT (limit 0) the VMM enters it with: the
// #UD cannot be delivered, nor the #GP and #DF that follow, so the vCPU
// shuts down (a triple fault) with the marker's last byte as its last
// exit. RAX holds TripleFaultRAX, for reports to show on VMX hosts.
func PVHTripleFault(marker string) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.puts(codeAddr + a.inlineString(marker))
		a.emit(0xb8) // mov eax, imm32
		a.imm32(TripleFaultRAX)
		a.emit(0x0f, 0x0b) // ud2
		a.hltForever()
		return a.b
	})
}

// TripleFaultRAX is the value PVHTripleFault leaves in RAX.
const TripleFaultRAX = 0x7f1fa017

// PVHTouch returns a PVH guest that writes marker to COM1, then writes one
// byte into every 4 KiB page of guest RAM from the address from up to to
// (paging is off, so these are guest physical addresses), and ends the VM
// with exit. The host backs exactly those pages, so a test can see how KVM
// mapped them.
//
//	mov edi, from       ; BF imm32
//	loop: mov [edi], al ; 88 07
//	add edi, 0x1000     ; 81 C7 imm32
//	cmp edi, to         ; 81 FF imm32
//	jb loop             ; 72 F0: back 16 bytes to the mov
func PVHTouch(marker string, from, to uint32, exit Exit) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.puts(codeAddr + a.inlineString(marker))
		a.emit(0xbf)
		a.imm32(from)
		a.emit(0x88, 0x07)
		a.emit(0x81, 0xc7)
		a.imm32(0x1000)
		a.emit(0x81, 0xff)
		a.imm32(to)
		a.emit(0x72, 0xf0)
		a.exit(exit)
		return a.b
	})
}
