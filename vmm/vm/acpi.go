package vm

// The ACPI PM1a control block the FADT points at.
const (
	// PM1aControlPort is the I/O port of the PM1a control register.
	PM1aControlPort = 0x604
	// S5SleepType is the SLP_TYP the DSDT's \_S5 package declares.
	S5SleepType = 5
)

// addPM places the PM1a control register that turns a guest poweroff into
// ExitPoweroff.
func (v *VM) addPM() error {
	pm := &pmDevice{s5: S5SleepType, poweroff: func() { v.finish(ExitPoweroff, "guest powered off (ACPI S5)", nil) }}
	return v.pio.Add(PM1aControlPort, 2, pm)
}
