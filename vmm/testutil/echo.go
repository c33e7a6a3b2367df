package testutil

// PVHEcho returns a PVH guest that writes marker to COM1, then echoes
// every byte it receives there with lower-case letters made upper-case
// (so that an echo is the guest's, not the terminal's), until it reads
// Ctrl-D (0x04) and powers off. It polls LSR.DR rather than taking the
// UART's interrupt, so it needs no IDT:
//
//	loop: mov dx, 0x3fd; in al, dx; test al, 1; jz loop   ; LSR.DR
//	mov dx, 0x3f8; in al, dx                              ; RBR
//	cmp al, 4; je off
//	cmp al, 'a'; jb out; cmp al, 'z'; ja out; sub al, 0x20
//	out: out dx, al; jmp loop
//	off: (ExitPoweroff)
func PVHEcho(marker string) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		skip := a.jfwd(0xeb) // jmp over the string
		msg := a.cstr(marker)
		a.land(skip)
		a.puts(codeAddr + uint32(msg))
		loop := a.pc()
		a.movDX16(0x3fd)   // COM1 LSR
		a.emit(0xec)       // in al, dx
		a.emit(0xa8, 0x01) // test al, DR
		a.jback(0x74, loop)
		a.movDX16(0x3f8)   // COM1 RBR/THR
		a.emit(0xec)       // in al, dx
		a.emit(0x3c, 0x04) // cmp al, Ctrl-D
		off := a.jfwd(0x74)
		a.emit(0x3c, 'a')
		below := a.jfwd(0x72) // jb
		a.emit(0x3c, 'z')
		above := a.jfwd(0x77) // ja
		a.emit(0x2c, 0x20)    // sub al, 0x20
		a.land(below)
		a.land(above)
		a.outDXAL()
		a.jback(0xeb, loop)
		a.land(off)
		a.exit(ExitPoweroff)
		return a.b
	})
}
