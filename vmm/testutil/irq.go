package testutil

import "github.com/ironvisor/ironvisor/vmm/boot"

// Registers PVHWaitGSI programs (Intel SDM vol. 3, 11.4; the 82093AA
// IOAPIC datasheet, 3.2).
const (
	ioapicRegSel = boot.IOAPICAddr      // IOREGSEL: the register to reach
	ioapicWindow = boot.IOAPICAddr + 16 // IOWIN: its value
	ioapicRedir  = 0x10                 // redirection entry of pin n: 0x10+2n (low), +1 (high)
	lapicIRRBase = 0xfee00200           // IRR bits 32k..32k+31 at +0x10*k
	// waitVector is the vector PVHWaitGSI routes its pin to.
	waitVector = 0x40
)

// PVHWaitGSI returns a PVH guest that routes IOAPIC pin gsi to vector
// 0x40 on its own local APIC (fixed delivery, edge, active high,
// unmasked), writes ready, and polls its local APIC's IRR until the vector
// is pending: interrupts stay off, so an edge on the pin stays there. It
// then writes pressed and ends the VM with exit. The poll reads the local
// APIC's MMIO, so each try exits to KVM.
//
//	mov dword [SVR], 0x1ff                ; APIC software enable, spurious 0xff
//	mov dword [IOREGSEL], 0x10+2*gsi ; mov dword [IOWIN], 0x40
//	mov dword [IOREGSEL], 0x11+2*gsi ; mov dword [IOWIN], 0   ; APIC ID 0
//	(puts ready)
//	poll: test dword [IRR+0x20], 1 ; jz poll
//	(puts pressed; exit)
func PVHWaitGSI(ready, pressed string, gsi uint32, exit Exit) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.mov32(lapicSVR, 0x1ff)
		a.mov32(ioapicRegSel, ioapicRedir+2*gsi)
		a.mov32(ioapicWindow, waitVector)
		a.mov32(ioapicRegSel, ioapicRedir+2*gsi+1)
		a.mov32(ioapicWindow, 0)
		a.puts(codeAddr + a.inlineString(ready))
		poll := a.pc()
		a.emit(0xf7, 0x05) // test dword [disp32], imm32 (F7 /0, ModRM 05)
		a.imm32(lapicIRRBase + waitVector/32*0x10)
		a.imm32(1 << (waitVector % 32))
		a.jback(0x74, poll) // jz poll
		a.puts(codeAddr + a.inlineString(pressed))
		a.exit(exit)
		return a.b
	})
}
