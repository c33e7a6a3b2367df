// Package acpi builds the ACPI tables a stock Linux kernel needs to find the
// vCPUs, the IOAPIC, the virtio-mmio devices and a way to power off: an RSDP
// (at boot.RSDPAddr), an XSDT, a hardware-reduced FADT, a MADT and a DSDT,
// in boot.ACPIStart..boot.ACPIEnd. It also holds a small AML encoder for
// the DSDT. Tables follow ACPI 6.5 §5.2; AML follows §20.
//
// Poweroff: the FADT sets HW_REDUCED_ACPI and points both the sleep control
// and the sleep status register (§4.8.3.7) at I/O port SleepControlPort,
// and the DSDT has \_S5_ with SLP_TYP 5. Linux (acpi_sleep_state_supported
// accepts S5 when a reduced-hardware FADT has both registers) then powers
// off by writing (5<<2)|SLP_EN = 0x34 to that port, after clearing WAK_STS
// with a write of 0x80. The VMM traps the port and treats a write for which
// IsPoweroff is true as the guest powering off.
package acpi
