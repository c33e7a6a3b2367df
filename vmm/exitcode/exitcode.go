// Package exitcode holds the exit codes of `ironvisor vmm run`: the contract
// between the VMM, which ends with one of them, and the appliance's
// supervisor, which reads them to tell a guest that powered off from a VMM
// that crashed. It imports nothing, so both sides may see it without the
// appliance importing the VMM itself (DESIGN.md, "Folders").
package exitcode

// Exit codes of `ironvisor vmm run` (the VMM team contract).
const (
	// Poweroff: the guest powered off (ACPI S5 or a KVM shutdown event).
	Poweroff = 0
	// VMMError: the VMM failed (bad configuration, KVM error, an
	// unexpected exit).
	VMMError = 1
	// Usage: the command line was wrong.
	Usage = 2
	// Reset: the guest reset or rebooted (i8042 reset pulse, triple
	// fault, KVM reset event).
	Reset = 10
	// Stopped: the host stopped the VM (context cancelled, forced stop)
	// before the guest shut down by itself.
	Stopped = 11
	// GuestBrokeDevice: the guest drove a device into an error state
	// (virtio NEEDS_RESET); the VM was stopped.
	GuestBrokeDevice = 20
)
