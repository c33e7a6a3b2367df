package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// ResetVectorValue is the byte ResetVectorCode writes to the reset port.
// It differs from the FADT's RESET_VALUE so that the VMM can tell a guest
// that jumped to the reset vector from one that wrote the ACPI reset
// register.
const ResetVectorValue = 0x0f

// ResetVectorCode returns the 16-bit code the VMM places at ResetVector:
// "mov dx, port; mov al, ResetVectorValue; out dx, al", then cli; hlt in a
// loop. There is no firmware to restart, so what a real PC's BIOS does at
// F000:FFF0 (start over) is the VMM's reset. Linux jumps there to reboot
// when it picks its BIOS method: by default on a hardware-reduced ACPI
// machine, where it prefers EFI's ResetSystem (efi_reboot_required), finds
// no EFI and falls back to the BIOS (arch/x86/kernel/reboot.c,
// machine_real_restart). Without this code it would run the zeros of the
// missing ROM for ever.
func ResetVectorCode(port uint16) []byte {
	b := []byte{0xba, 0, 0} // mov dx, imm16
	binary.LittleEndian.PutUint16(b[1:], port)
	return append(b,
		0xb0, ResetVectorValue, // mov al, imm8
		0xee,       // out dx, al
		0xfa,       // cli
		0xf4,       // hlt
		0xeb, 0xfd, // jmp back to the hlt
	)
}

// WriteResetVector writes ResetVectorCode(port) at ResetVector.
func WriteResetVector(mem *memory.Memory, port uint16) error {
	code := ResetVectorCode(port)
	if len(code) > 16 {
		return fmt.Errorf("reset vector code is %d bytes, more than the 16 below 1 MiB", len(code))
	}
	if err := mem.WriteAt(code, ResetVector); err != nil {
		return fmt.Errorf("write the reset vector: %w", err)
	}
	return nil
}
