package vm

import "github.com/ironvisor/ironvisor/vmm/boot/acpi"

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
