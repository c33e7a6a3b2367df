package testutil

import (
	"fmt"
	"regexp"
	"strconv"
)

// SizeMarker starts the line PVHSize prints: "TINY-SIZE cpus=N mem=MM\n".
const SizeMarker = "TINY-SIZE"

// Scratch memory of the size guest, in low RAM below the boot GDT's page
// and away from counterAddr.
const (
	sizeMemAddr  = 0x0e00 // MiB of RAM found in the memory map
	sizeCPUsAddr = 0x0e04 // CPUs that ran the guest's code
	sizeDigitEnd = 0x0e20 // end of the decimal digit buffer (16 bytes below)
)

// Machine-readable constants of the size guest.
const (
	e820RAM         = 1          // hvm_memmap_table_entry type "RAM"
	sigRSD          = 0x20445352 // "RSD " as a little-endian dword
	sigPTR          = 0x20525450 // "PTR "
	sigAPIC         = 0x43495041 // "APIC": the MADT's signature
	biosSearchStart = 0xe0000    // RSDP search area (ACPI 6.5 §5.2.5.1)
	biosSearchEnd   = 0x100000
	// sipiDelay is the number of pause iterations between INIT and each
	// Start-Up IPI. It only has to let the target take the INIT before
	// the SIPI (QEMU drops a SIPI that overtakes it); its length in time
	// does not matter.
	sipiDelay = 200000
)

// PVHSize returns a PVH guest that reports the size of the machine it was
// given on COM1, as "TINY-SIZE cpus=2 mem=256M\n", then ends with exit:
//
//   - mem is the sum of the RAM entries (type 1) of the memory map in
//     hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h,
//     version 1), in KiB, rounded up to whole MiB. The legacy hole below
//     1 MiB is smaller than 1 MiB, so this is the size the VMM was asked
//     for.
//   - cpus counts the processors that ran the guest's code: the BSP plus
//     every AP that checked in. The guest finds the enabled Processor Local
//     APIC entries of the MADT (through hvm_start_info.rsdp_paddr, or the
//     BIOS-area search of ACPI 6.5 §5.2.5.1 when it is 0; XSDT, or RSDT for
//     a revision-0 RSDP), sends INIT and two Start-Up IPIs to all other
//     CPUs, and waits until that many APs minus one have incremented a
//     counter. A VMM that lists a CPU it does not run hangs the guest
//     before the marker; one that runs a CPU the MADT omits can only make
//     the count larger.
func PVHSize(exit Exit) []byte {
	tramp := quietTrampoline()
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		over := a.jfwd(0xeb) // jmp over the strings and the trampoline
		head, mem, tail := a.cstr(SizeMarker+" cpus="), a.cstr(" mem="), a.cstr("M\n")
		src := a.pc()
		a.emit(tramp...)
		a.land(over)
		a.sumRAM()
		a.countMADT()
		a.startAPs(codeAddr+uint32(src), len(tramp))
		a.puts(codeAddr + uint32(head))
		a.putDec(sizeCPUsAddr)
		a.puts(codeAddr + uint32(mem))
		a.putDec(sizeMemAddr)
		a.puts(codeAddr + uint32(tail))
		a.exit(exit)
		return a.b
	})
}

// cstr appends s with a NUL and returns its offset.
func (a *asm) cstr(s string) int {
	at := a.pc()
	a.emit([]byte(s)...)
	a.emit(0)
	return at
}

// jfwd emits a short jump (op rel8: EB jmp, 7x jcc, E3 jecxz) to a label
// not yet placed and returns the fix-up position for land.
func (a *asm) jfwd(op byte) int {
	a.emit(op, 0)
	return a.pc() - 1
}

// land places the target of the forward jump at fix-up position at here.
// It panics when the jump is longer than a rel8 reaches: a bug in the
// guest's construction, not in anything a test controls.
func (a *asm) land(at int) {
	d := a.pc() - (at + 1)
	if d > 127 {
		panic(fmt.Sprintf("testutil: forward jump of %d bytes", d))
	}
	a.b[at] = byte(d)
}

// jback emits a short jump (op rel8) back to offset target. It panics when
// the jump is longer than a rel8 reaches.
func (a *asm) jback(op byte, target int) {
	d := target - (a.pc() + 2)
	if d < -128 {
		panic(fmt.Sprintf("testutil: backward jump of %d bytes", d))
	}
	a.emit(op, byte(int8(d)))
}

// sumRAM stores at sizeMemAddr the MiB (rounded up) of RAM in the memory
// map of the hvm_start_info EBX points at (memmap_paddr at +40,
// memmap_entries at +48; entries of 24 bytes: addr, size, type):
//
//	mov esi, [ebx+40]; mov ecx, [ebx+48]; xor edi, edi
//	loop: jecxz done; cmp dword [esi+16], 1; jne next
//	mov eax, [esi+8]; mov edx, [esi+12]; shrd eax, edx, 10; add edi, eax
//	next: add esi, 24; dec ecx; jmp loop
//	done: add edi, 1023; shr edi, 10; mov [sizeMemAddr], edi
func (a *asm) sumRAM() {
	a.emit(0x8b, 0x73, 40) // mov esi, [ebx+40]
	a.emit(0x8b, 0x4b, 48) // mov ecx, [ebx+48]
	a.emit(0x31, 0xff)     // xor edi, edi
	loop := a.pc()
	done := a.jfwd(0xe3)            // jecxz done
	a.emit(0x83, 0x7e, 16, e820RAM) // cmp dword [esi+16], RAM
	next := a.jfwd(0x75)            // jne next
	a.emit(0x8b, 0x46, 8)           // mov eax, [esi+8]: size, low half
	a.emit(0x8b, 0x56, 12)          // mov edx, [esi+12]: size, high half
	a.emit(0x0f, 0xac, 0xd0, 10)    // shrd eax, edx, 10: KiB
	a.emit(0x01, 0xc7)              // add edi, eax
	a.land(next)                    //
	a.emit(0x83, 0xc6, 24)          // add esi, 24
	a.emit(0x49)                    // dec ecx
	a.jback(0xeb, loop)             // jmp loop
	a.land(done)                    //
	a.emit(0x81, 0xc7)              // add edi, 1023
	a.imm32(1023)                   //
	a.emit(0xc1, 0xef, 10)          // shr edi, 10: MiB, rounded up
	a.emit(0x89, 0x3d)              // mov [sizeMemAddr], edi
	a.imm32(sizeMemAddr)            //
}

// findRSDP leaves the RSDP's address in ESI, or 0 when there is none:
// hvm_start_info.rsdp_paddr (+32) if set, else the first 16-byte aligned
// "RSD PTR " in the BIOS area.
func (a *asm) findRSDP() {
	a.emit(0x8b, 0x73, 32) // mov esi, [ebx+32]
	a.emit(0x85, 0xf6)     // test esi, esi
	found := a.jfwd(0x75)  // jnz found
	a.emit(0xbe)           // mov esi, biosSearchStart
	a.imm32(biosSearchStart)
	scan := a.pc()
	a.emit(0x81, 0x3e) // cmp dword [esi], "RSD "
	a.imm32(sigRSD)
	next := a.jfwd(0x75)   // jne next
	a.emit(0x81, 0x7e, 4)  // cmp dword [esi+4], "PTR "
	a.imm32(sigPTR)        //
	found2 := a.jfwd(0x74) // je found
	a.land(next)           //
	a.emit(0x83, 0xc6, 16) // add esi, 16
	a.emit(0x81, 0xfe)     // cmp esi, biosSearchEnd
	a.imm32(biosSearchEnd) //
	a.jback(0x72, scan)    // jb scan
	a.emit(0x31, 0xf6)     // xor esi, esi: not found
	a.land(found)          //
	a.land(found2)         //
}

// countMADT leaves in EDI the number of enabled Processor Local APIC
// entries (type 0, flags bit 0 at +4) of the MADT, or 0 when there is no
// RSDP or no MADT. The RSDP gives the XSDT (+24, 8-byte entries) when its
// revision (+15) is 2 or more and the address is set, else the RSDT (+16,
// 4-byte entries); description headers are 36 bytes with the length at +4,
// and the MADT's entries start at +44 (ACPI 6.5 §5.2.5.3, §5.2.7, §5.2.8,
// §5.2.12).
func (a *asm) countMADT() {
	a.findRSDP()
	a.emit(0x31, 0xff)          // xor edi, edi
	a.emit(0x85, 0xf6)          // test esi, esi
	none1 := a.jfwd(0x74)       // jz none
	a.emit(0x80, 0x7e, 15, 2)   // cmp byte [esi+15], 2
	rsdt1 := a.jfwd(0x72)       // jb rsdt
	a.emit(0x8b, 0x56, 24)      // mov edx, [esi+24]: XSDT, low half
	a.emit(0x85, 0xd2)          // test edx, edx
	rsdt2 := a.jfwd(0x74)       // jz rsdt
	a.emit(0xbd, 8, 0, 0, 0)    // mov ebp, 8
	have := a.jfwd(0xeb)        // jmp have
	a.land(rsdt1)               //
	a.land(rsdt2)               //
	a.emit(0x8b, 0x56, 16)      // rsdt: mov edx, [esi+16]
	a.emit(0xbd, 4, 0, 0, 0)    // mov ebp, 4
	a.land(have)                //
	a.emit(0x8b, 0x4a, 4)       // have: mov ecx, [edx+4]: length
	a.emit(0x01, 0xd1)          // add ecx, edx: end
	a.emit(0x8d, 0x72, 36)      // lea esi, [edx+36]: first entry
	sdt := a.pc()               //
	a.emit(0x39, 0xce)          // cmp esi, ecx
	none2 := a.jfwd(0x73)       // jae none
	a.emit(0x8b, 0x06)          // mov eax, [esi]: a table's address
	a.emit(0x81, 0x38)          // cmp dword [eax], "APIC"
	a.imm32(sigAPIC)            //
	madt := a.jfwd(0x74)        // je madt
	a.emit(0x01, 0xee)          // add esi, ebp
	a.jback(0xeb, sdt)          // jmp sdt
	a.land(madt)                //
	a.emit(0x8b, 0x48, 4)       // madt: mov ecx, [eax+4]
	a.emit(0x01, 0xc1)          // add ecx, eax: end
	a.emit(0x8d, 0x70, 44)      // lea esi, [eax+44]: first structure
	ent := a.pc()               //
	a.emit(0x39, 0xce)          // cmp esi, ecx
	none3 := a.jfwd(0x73)       // jae none
	a.emit(0x80, 0x3e, 0)       // cmp byte [esi], 0: Processor Local APIC
	skip1 := a.jfwd(0x75)       // jne skip
	a.emit(0xf6, 0x46, 4, 1)    // test byte [esi+4], 1: enabled
	skip2 := a.jfwd(0x74)       // jz skip
	a.emit(0x47)                // inc edi
	a.land(skip1)               //
	a.land(skip2)               //
	a.emit(0x0f, 0xb6, 0x46, 1) // skip: movzx eax, byte [esi+1]: length
	a.emit(0x85, 0xc0)          // test eax, eax
	none4 := a.jfwd(0x74)       // jz none: a zero length would loop forever
	a.emit(0x01, 0xc6)          // add esi, eax
	a.jback(0xeb, ent)          // jmp ent
	for _, n := range []int{none1, none2, none3, none4} {
		a.land(n)
	}
}

// startAPs starts the EDI-1 application processors the MADT lists (none
// when EDI <= 1), waits until as many have checked in at counterAddr, and
// stores 1 + the check-ins at sizeCPUsAddr. The AP code (n bytes at src)
// is copied to TrampolineAddr first. The INIT, Start-Up, Start-Up sequence
// with a pause between them is Intel SDM vol. 3, 9.4.4.1.
func (a *asm) startAPs(src uint32, n int) {
	a.emit(0xc6, 0x05) // mov byte [counterAddr], 0
	a.imm32(counterAddr)
	a.emit(0)
	a.emit(0x83, 0xff, 1) // cmp edi, 1
	one := a.jfwd(0x76)   // jbe one
	a.emit(0x89, 0xfd)    // mov ebp, edi: CPUs to wait for
	a.movESI32(src)       // mov esi, trampoline
	a.emit(0xbf)          // mov edi, TrampolineAddr
	a.imm32(TrampolineAddr)
	a.emit(0xb9) // mov ecx, n
	a.imm32(uint32(n))
	a.emit(0xf3, 0xa4)       // rep movsb
	a.mov32(lapicSVR, 0x1ff) // APIC software enable, spurious vector 0xff
	a.mov32(lapicICRHi, 0)
	a.mov32(lapicICRLow, icrInitAllButSelf)
	for range 2 {
		a.spin(sipiDelay)
		a.mov32(lapicICRLow, icrSIPIAllButSelf)
	}
	a.emit(0x8d, 0x45, 0xff) // lea eax, [ebp-1]: APs to wait for
	wait := a.pc()
	a.emit(0xf3, 0x90)       // pause
	a.emit(0x0f, 0xb6, 0x15) // movzx edx, byte [counterAddr]
	a.imm32(counterAddr)
	a.emit(0x39, 0xc2)  // cmp edx, eax
	a.jback(0x72, wait) // jb wait
	a.land(one)
	a.emit(0x0f, 0xb6, 0x05) // one: movzx eax, byte [counterAddr]
	a.imm32(counterAddr)
	a.emit(0x40) // inc eax: the BSP
	a.emit(0xa3) // mov [sizeCPUsAddr], eax
	a.imm32(sizeCPUsAddr)
}

// spin is "mov ecx, n; l: pause; loop l" (B9 id, F3 90, E2 FC).
func (a *asm) spin(n uint32) {
	a.emit(0xb9)
	a.imm32(n)
	a.emit(0xf3, 0x90, 0xe2, 0xfc)
}

// putDec writes the 32-bit value at addr to COM1 in decimal: the digits
// are built backwards below sizeDigitEnd, then written in order.
//
//	mov eax, [addr]; mov edi, end; mov ecx, 10
//	d: xor edx, edx; div ecx; add dl, '0'; dec edi; mov [edi], dl
//	test eax, eax; jnz d
//	mov dx, 0x3f8
//	p: mov al, [edi]; out dx, al; inc edi; cmp edi, end; jb p
func (a *asm) putDec(addr uint32) {
	a.emit(0xa1) // mov eax, [addr]
	a.imm32(addr)
	a.emit(0xbf) // mov edi, end
	a.imm32(sizeDigitEnd)
	a.emit(0xb9, 10, 0, 0, 0) // mov ecx, 10
	d := a.pc()
	a.emit(0x31, 0xd2)      // xor edx, edx
	a.emit(0xf7, 0xf1)      // div ecx
	a.emit(0x80, 0xc2, '0') // add dl, '0'
	a.emit(0x4f)            // dec edi
	a.emit(0x88, 0x17)      // mov [edi], dl
	a.emit(0x85, 0xc0)      // test eax, eax
	a.jback(0x75, d)        // jnz d
	a.movDX16(0x3f8)        // mov dx, COM1
	p := a.pc()             //
	a.emit(0x8a, 0x07)      // mov al, [edi]
	a.outDXAL()             // out dx, al
	a.emit(0x47)            // inc edi
	a.emit(0x81, 0xff)      // cmp edi, end
	a.imm32(sizeDigitEnd)   //
	a.jback(0x72, p)        // jb p
}

// quietTrampoline is the real-mode code each AP runs after the SIPI: it
// counts itself in at counterAddr and halts, writing nothing, so the
// BSP's marker line is never interleaved.
func quietTrampoline() []byte {
	a := &asm{}
	a.emit(0x31, 0xc0)       // xor ax, ax
	a.emit(0x8e, 0xd8)       // mov ds, ax
	a.emit(0xf0, 0xfe, 0x06) // lock inc byte [counterAddr]
	a.imm16(counterAddr)
	a.hltForever()
	return a.b
}

// Size is what a PVHSize guest reported.
type Size struct {
	CPUs   int
	MemMiB int
}

// String renders s the way the guest prints it.
func (s Size) String() string { return fmt.Sprintf("cpus=%d mem=%dM", s.CPUs, s.MemMiB) }

// sizeLine matches one complete line of a PVHSize guest.
var sizeLine = regexp.MustCompile(SizeMarker + ` cpus=(\d+) mem=(\d+)M\r?\n`)

// ParseSizes returns every size report in console output, in order. A line
// cut short (the guest still writing) is not reported yet.
func ParseSizes(console string) []Size {
	var out []Size
	for _, m := range sizeLine.FindAllStringSubmatch(console, -1) {
		c, err1 := strconv.Atoi(m[1])
		mem, err2 := strconv.Atoi(m[2])
		if err1 != nil || err2 != nil {
			continue // more digits than an int holds: not a real report
		}
		out = append(out, Size{CPUs: c, MemMiB: mem})
	}
	return out
}
