// Package testutil holds tiny guests written by the project for VMM tests:
// a 32-bit PVH ELF, a real-mode flat image and an SMP guest whose
// application processors report their APIC IDs. Each guest writes a marker
// to COM1 (port 0x3f8) and then ends the VM through the i8042 reset line or
// the ACPI sleep control register, so a test sees both serial output and a
// distinct exit code.
//
// The machine code is assembled here by Go, one documented instruction at a
// time (Intel SDM vol. 2 encodings), so no assembler is needed to build it.
package testutil

import (
	"encoding/binary"

	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
)

// asm accumulates machine code. mode32 selects the default operand size of
// the code segment the bytes will run in (16-bit real mode or 32-bit
// protected mode); the helpers add a 0x66 prefix where the other size is
// meant.
type asm struct {
	b      []byte
	mode32 bool
}

// emit appends raw bytes.
func (a *asm) emit(b ...byte) { a.b = append(a.b, b...) }

// pc returns the offset of the next instruction.
func (a *asm) pc() int { return len(a.b) }

// imm32 appends a little-endian 32-bit immediate.
func (a *asm) imm32(v uint32) { a.b = binary.LittleEndian.AppendUint32(a.b, v) }

// imm16 appends a little-endian 16-bit immediate.
func (a *asm) imm16(v uint16) { a.b = binary.LittleEndian.AppendUint16(a.b, v) }

// opsize16 emits the operand-size prefix when a 16-bit operand is meant in
// 32-bit code.
func (a *asm) opsize16() {
	if a.mode32 {
		a.emit(0x66)
	}
}

// opsize32 emits the operand-size prefix when a 32-bit operand is meant in
// 16-bit code.
func (a *asm) opsize32() {
	if !a.mode32 {
		a.emit(0x66)
	}
}

// movDX16 is "mov dx, imm16" (B8+r with r = 2, 16-bit operand).
func (a *asm) movDX16(v uint16) { a.opsize16(); a.emit(0xba); a.imm16(v) }

// movAL is "mov al, imm8" (B0+r).
func (a *asm) movAL(v byte) { a.emit(0xb0, v) }

// movESI32 is "mov esi, imm32" (B8+r, r = 6).
func (a *asm) movESI32(v uint32) { a.opsize32(); a.emit(0xbe); a.imm32(v) }

// movSI16 is "mov si, imm16" in real mode (B8+r, r = 6).
func (a *asm) movSI16(v uint16) { a.emit(0xbe); a.imm16(v) }

// outDXAL is "out dx, al" (EE): write AL to the port in DX.
func (a *asm) outDXAL() { a.emit(0xee) }

// outImmAL is "out imm8, al" (E6 ib).
func (a *asm) outImmAL(port byte) { a.emit(0xe6, port) }

// hltForever is "cli; hlt; jmp back to hlt" (FA F4 EB FD): stop for good.
func (a *asm) hltForever() { a.emit(0xfa, 0xf4, 0xeb, 0xfd) }

// puts writes the NUL-terminated string at address msg to COM1:
//
//	mov dx, 0x3f8      ; COM1 data register
//	mov (e)si, msg
//	loop: lodsb        ; AC: al = [ds:(e)si], (e)si++
//	test al, al        ; 84 C0
//	jz done            ; 74 03: skip the out and the jump
//	out dx, al         ; EE
//	jmp loop           ; EB F8: back 8 bytes to lodsb
//	done:
func (a *asm) puts(msg uint32) {
	a.movDX16(0x3f8)
	if a.mode32 {
		a.movESI32(msg)
	} else {
		a.movSI16(uint16(msg))
	}
	a.emit(0xac)       // lodsb
	a.emit(0x84, 0xc0) // test al, al
	a.emit(0x74, 0x03) // jz +3
	a.outDXAL()        // out dx, al
	a.emit(0xeb, 0xf8) // jmp -8
}

// Exit is how a tiny guest ends the VM.
type Exit int

// Tiny guest exits.
const (
	// ExitReset pulses the reset line: "mov al, 0xfe; out 0x64, al".
	ExitReset Exit = iota
	// ExitPoweroff writes SLP_TYP=S5|SLP_EN to the ACPI sleep control
	// register, as Linux's poweroff does.
	ExitPoweroff
	// ExitHalt never ends the VM: it halts with interrupts off, so only
	// the host can stop it (pause, stop and control-socket tests).
	ExitHalt
	// ExitACPIReset writes the FADT's RESET_VALUE to its reset register,
	// as Linux's reboot=a does.
	ExitACPIReset
	// ExitResetVector jumps to F000:FFF0, as Linux's BIOS reboot method
	// does from real mode; only for real-mode guests.
	ExitResetVector
)

// exit ends the VM the chosen way, then halts in case the VMM does not.
func (a *asm) exit(e Exit) {
	switch e {
	case ExitHalt:
	case ExitReset:
		a.movAL(0xfe)    // i8042 command: pulse output port bit 0 (reset)
		a.outImmAL(0x64) // to the i8042 command port
	case ExitPoweroff:
		a.movDX16(acpi.SleepControlPort)
		a.movAL(acpi.SleepTypeS5<<2 | 1<<5) // SLP_TYP = S5 (bits 4:2), SLP_EN (bit 5)
		a.outDXAL()
	case ExitACPIReset:
		a.movDX16(acpi.ResetPort)
		a.movAL(acpi.ResetValue)
		a.outDXAL()
	case ExitResetVector:
		a.emit(0xea, 0xf0, 0xff, 0x00, 0xf0) // jmp far 0xf000:0xfff0
	}
	a.hltForever()
}
