package testutil

// SMP guest constants.
const (
	// TrampolineAddr is where the APs start: SIPI vector 0x10 means
	// CS = 0x1000, IP = 0 (Intel SDM vol. 3, 9.4.4, MP initialization).
	TrampolineAddr = 0x10000
	sipiVector     = TrampolineAddr >> 12
	// counterAddr is a byte each AP increments when it has reported.
	counterAddr = 0x0f00
	// Local APIC registers (xAPIC MMIO, Intel SDM vol. 3, 11.4.1).
	lapicSVR    = 0xfee000f0
	lapicICRLow = 0xfee00300
	lapicICRHi  = 0xfee00310
	// ICR values: shorthand "all excluding self" (bits 18-19), level
	// assert (bit 14), delivery mode INIT (101b) or Start-Up (110b).
	icrInitAllButSelf = 0x000c4500
	icrSIPIAllButSelf = 0x000c4600 | sipiVector
)

// apTrampoline is the real-mode code each AP runs after the SIPI: it reads
// its APIC ID from CPUID, writes it to COM1 as a digit, counts itself in at
// counterAddr and halts.
func apTrampoline() []byte {
	a := &asm{}
	a.emit(0x66, 0xb8, 1, 0, 0, 0) // mov eax, 1
	a.emit(0x0f, 0xa2)             // cpuid: EBX[31:24] = initial APIC ID
	a.emit(0x66, 0xc1, 0xeb, 24)   // shr ebx, 24
	a.emit(0x88, 0xd8)             // mov al, bl
	a.emit(0x04, '0')              // add al, '0'
	a.movDX16(0x3f8)               // mov dx, COM1
	a.outDXAL()                    // out dx, al
	a.emit(0x31, 0xc0)             // xor ax, ax
	a.emit(0x8e, 0xd8)             // mov ds, ax
	a.emit(0xf0, 0xfe, 0x06)       // lock inc byte [disp16]
	a.imm16(counterAddr)
	a.hltForever()
	return a.b
}

// mov32 is "mov dword [addr], imm32" (C7 /0 with a disp32 ModRM of 05).
func (a *asm) mov32(addr, v uint32) { a.emit(0xc7, 0x05); a.imm32(addr); a.imm32(v) }

// SMPHello returns a PVH guest for cpus vCPUs: the BSP copies the AP
// trampoline to TrampolineAddr, software-enables its local APIC, sends INIT
// and a Start-Up IPI to all other CPUs, waits until cpus-1 APs have counted
// themselves in, then writes marker and ends the VM with exit. Each AP
// writes its APIC ID as one digit before that.
func SMPHello(marker string, cpus int, exit Exit) []byte {
	tramp := apTrampoline()
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		a.emit(0xeb, 0x00) // jmp over the data, patched below
		msg := a.pc()
		a.emit([]byte(marker)...)
		a.emit(0)
		src := a.pc()
		a.emit(tramp...)
		a.b[1] = byte(a.pc() - 2)
		a.mov32(lapicSVR, 0x1ff) // APIC software enable, spurious vector 0xff
		a.emit(0xc6, 0x05)       // mov byte [counterAddr], 0
		a.imm32(counterAddr)
		a.emit(0)
		a.movESI32(codeAddr + uint32(src)) // mov esi, trampoline
		a.emit(0xbf)                       // mov edi, TrampolineAddr
		a.imm32(TrampolineAddr)
		a.emit(0xb9) // mov ecx, len
		a.imm32(uint32(len(tramp)))
		a.emit(0xf3, 0xa4)                      // rep movsb
		a.mov32(lapicICRHi, 0)                  // destination field unused with a shorthand
		a.mov32(lapicICRLow, icrInitAllButSelf) // INIT
		a.mov32(lapicICRLow, icrSIPIAllButSelf) // Start-Up IPI
		a.emit(0xf3, 0x90)                      // wait: pause
		a.emit(0x80, 0x3d)                      // cmp byte [counterAddr], cpus-1
		a.imm32(counterAddr)
		a.emit(byte(cpus - 1))
		a.emit(0x75, 0xf5) // jne wait (back 11 bytes)
		a.puts(codeAddr + uint32(msg))
		a.exit(exit)
		return a.b
	})
}
