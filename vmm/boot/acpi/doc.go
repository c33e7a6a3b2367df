// Package acpi builds the ACPI tables a stock Linux kernel needs to find the
// vCPUs, the IOAPIC, the virtio-mmio devices, a power button and a way to
// power off: an RSDP (at boot.RSDPAddr), an XSDT, a hardware-reduced FADT,
// a MADT and a DSDT, in boot.ACPIStart..boot.ACPIEnd. It also holds a small AML encoder for
// the DSDT. Tables follow ACPI 6.5 §5.2; AML follows §20.
//
// Poweroff: the FADT sets HW_REDUCED_ACPI and points the sleep control and
// sleep status registers (§4.8.3.7) at I/O ports SleepControlPort (0x600)
// and SleepStatusPort (0x601), and the DSDT has \_S5_ with SLP_TYP 5. Linux
// (acpi_sleep_state_supported accepts S5 when a reduced-hardware FADT has
// both registers) then powers off by writing 0x80 (WAK_STS) to the status
// port and (5<<2)|SLP_EN = 0x34 to the control port. The VMM traps both
// ports and treats a control write for which IsPoweroff is true as the guest
// powering off.
//
// Reset: the FADT sets RESET_REG_SUP with a one-byte reset register at I/O
// port ResetPort (0x602) and RESET_VALUE ResetValue (§4.8.3.6, §5.2.9); a
// write of that value resets the machine, which the VMM treats as the guest
// rebooting.
//
// Power button: the DSDT has a Generic Event Device (ACPI0013, §5.6.9)
// whose one interrupt is boot.PowerButtonGSI and whose _EVT notifies a
// control method power button (\_SB_.PWRB, PNP0C0C) with 0x80. The VMM
// presses it by pulsing that GSI; Linux's GED driver runs _EVT and its
// button driver reports KEY_POWER (see PowerButton).
package acpi
