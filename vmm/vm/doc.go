// Package vm builds and runs one virtual machine on KVM: guest RAM with the
// 32-bit MMIO hole, the in-kernel irqchip and PIT, the boot vCPU state from
// vmm/boot, the port I/O and MMIO buses with the UART, the i8042, the ACPI
// power-management block and the virtio-mmio devices, one goroutine per vCPU,
// and the Result that tells the appliance how the guest ended (its code is
// one of vmm/exitcode's).
package vm

// Result is how a VM run ended.
type Result struct {
	Code   int    // one of the vmm/exitcode codes
	Reason string // human-readable cause
	Err    error  // the error behind exitcode.VMMError or exitcode.GuestBrokeDevice
	// State is, after a triple fault, every vCPU's registers and last exit
	// (one line per group of registers); "" otherwise.
	State string
}
