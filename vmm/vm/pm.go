package vm

import (
	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
)

// sleepRegs are the ACPI hardware-reduced sleep control (offset 0) and
// sleep status (offset 1) registers (ACPI 6.5 §4.8.3.7). A control write
// with SLP_EN and the S5 sleep type (acpi.IsPoweroff) powers the machine
// off; the status register reads as zero and ignores writes (the guest
// clears WAK_STS there before sleeping).
type sleepRegs struct {
	poweroff func()
}

// Read returns zero for both registers.
func (p *sleepRegs) Read(off uint64, data []byte) { clear(data) }

// Write takes a control write; only S5 does anything.
func (p *sleepRegs) Write(off uint64, data []byte) {
	if off == 0 && len(data) > 0 && acpi.IsPoweroff(data[0]) {
		p.poweroff()
	}
}

// resetReg is the FADT's reset register (ACPI 6.5 §4.8.3.6) at
// acpi.ResetPort. A write of acpi.ResetValue (the guest's OSPM resetting
// through ACPI) or of boot.ResetVectorValue (the code at the reset vector,
// reached by a guest that rebooted through the BIOS) resets the machine;
// other values are ignored, and reads return zero.
type resetReg struct {
	reset func(reason string)
}

// Read returns zero.
func (r *resetReg) Read(off uint64, data []byte) { clear(data) }

// Write resets the machine on either reset value.
func (r *resetReg) Write(off uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	switch data[0] {
	case acpi.ResetValue:
		r.reset("guest reset (ACPI reset register)")
	case boot.ResetVectorValue:
		r.reset("guest reset (jumped to the BIOS reset vector)")
	}
}
