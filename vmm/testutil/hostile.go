package testutil

import "github.com/ironvisor/ironvisor/vmm/boot"

// HostileScanPorts is how many I/O ports PVHHostileScan reads (0 up to it).
const HostileScanPorts = 0x1000

// PVHHostileScan returns a PVH guest that pokes at everything a guest can
// reach before it prints marker and powers off: it reads every I/O port
// below HostileScanPorts, reads and then zeroes every 32-bit register of
// the first virtio-mmio window (a driver reset, queue and feature selectors,
// a kick of queue 0 before activation), and reads unbacked addresses in the
// MMIO hole. The VMM must survive all of it and still see the poweroff.
func PVHHostileScan(marker string) []byte {
	return pvhELF(func(codeAddr uint32) []byte {
		a := &asm{mode32: true}
		msg := a.inlineString(marker)
		// Port reads: edx from 0 to HostileScanPorts-1.
		a.emit(0x31, 0xd2) // xor edx, edx
		a.emit(0xec)       // ports: in al, dx
		a.emit(0x42)       // inc edx
		a.emit(0x81, 0xfa) // cmp edx, HostileScanPorts
		a.imm32(HostileScanPorts)
		a.emit(0x75, 0xf6) // jne ports (back 10 bytes)
		// Virtio window: read each register, then write zero to it.
		a.movESI32(boot.VirtioMMIOBase)
		a.emit(0x8b, 0x06) // regs: mov eax, [esi]
		a.emit(0xc7, 0x06) // mov dword [esi], 0
		a.imm32(0)
		a.emit(0x83, 0xc6, 0x04) // add esi, 4
		a.emit(0x81, 0xfe)       // cmp esi, end of window
		a.imm32(boot.VirtioMMIOBase + boot.VirtioMMIOSize)
		a.emit(0x75, 0xed) // jne regs (back 19 bytes)
		// Unbacked addresses in the MMIO hole read as all ones.
		for _, addr := range []uint32{boot.MMIOHoleStart, boot.VirtioMMIOBase + 0x100000, 0xfeb00000} {
			a.emit(0xa1) // mov eax, [addr]
			a.imm32(addr)
		}
		a.puts(codeAddr + msg)
		a.exit(ExitPoweroff)
		return a.b
	})
}
