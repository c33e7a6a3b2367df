// Package vm builds and runs one virtual machine on KVM: guest RAM with the
// 32-bit MMIO hole, the in-kernel irqchip and PIT, the boot vCPU state from
// vmm/boot, the port I/O and MMIO buses with the UART, the i8042, the ACPI
// power-management block and the virtio-mmio devices, one goroutine per vCPU,
// and the exit codes that tell the appliance how the guest ended.
package vm

// Exit codes of `ironvisor vmm run` (the VMM team contract).
const (
	// ExitPoweroff: the guest powered off (ACPI S5 or a KVM shutdown event).
	ExitPoweroff = 0
	// ExitVMMError: the VMM failed (bad configuration, KVM error, an
	// unexpected exit).
	ExitVMMError = 1
	// ExitUsage: the command line was wrong.
	ExitUsage = 2
	// ExitReset: the guest reset or rebooted (i8042 reset pulse, triple
	// fault, KVM reset event).
	ExitReset = 10
	// ExitStopped: the host stopped the VM (context cancelled, forced stop)
	// before the guest shut down by itself.
	ExitStopped = 11
	// ExitGuestBrokeDevice: the guest drove a device into an error state
	// (virtio NEEDS_RESET); the VM was stopped.
	ExitGuestBrokeDevice = 20
)

// Result is how a VM run ended.
type Result struct {
	Code   int    // one of the Exit* codes
	Reason string // human-readable cause
	Err    error  // the error behind ExitVMMError or ExitGuestBrokeDevice
	// State is, after a triple fault, every vCPU's registers and last exit
	// (one line per group of registers); "" otherwise.
	State string
}
