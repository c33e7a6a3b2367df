package vm

import (
	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
)

// addPM traps the hardware-reduced sleep control and status registers the
// FADT declares (acpi.SleepControlPort, acpi.SleepStatusPort), so a guest
// poweroff (S5) becomes exitcode.Poweroff, and its reset register
// (acpi.ResetPort), so a guest reset becomes exitcode.Reset.
func (v *VM) addPM() error {
	pm := &sleepRegs{poweroff: func() { v.finish(exitcode.Poweroff, "guest powered off (ACPI S5)", nil) }}
	if err := v.pio.Add(acpi.SleepControlPort, acpi.SleepStatusPort-acpi.SleepControlPort+1, pm); err != nil {
		return err
	}
	return v.pio.Add(acpi.ResetPort, 1, &resetReg{reset: func(reason string) { v.finish(exitcode.Reset, reason, nil) }})
}

// buildResetVector places the code that resets through acpi.ResetPort at
// the reset vector (boot.ResetVectorCode).
func (v *VM) buildResetVector() error {
	return boot.WriteResetVector(v.mem, acpi.ResetPort)
}

// buildACPI writes the ACPI tables describing the vCPUs, the IOAPIC and the
// virtio-mmio devices.
func (v *VM) buildACPI() error {
	cfg := acpi.Config{CPUs: v.cfg.CPUs}
	for i := range v.virt {
		base, gsi := boot.VirtioMMIODevice(i)
		cfg.Devices = append(cfg.Devices, acpi.MMIODevice{Base: base, Size: boot.VirtioMMIOSize, GSI: gsi})
	}
	return acpi.Build(v.mem, cfg)
}
