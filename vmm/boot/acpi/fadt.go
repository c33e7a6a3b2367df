package acpi

import "encoding/binary"

// FADT field offsets and flags (ACPI 6.5 §5.2.9, Table 5.9).
const (
	fadtSize            = 276
	fadtDSDT            = 40
	fadtIAPCBootArch    = 109
	fadtFlags           = 112
	fadtResetReg        = 116
	fadtResetValue      = 128
	fadtMinorVersion    = 131
	fadtXDSDT           = 140
	fadtSleepControlReg = 244
	fadtSleepStatusReg  = 256
	fadtHypervisorID    = 268
	fadtRevision        = 6 // ACPI 6.x
	fadtMinor           = 5 // ACPI 6.5

	// IA-PC boot architecture flags (§5.2.9.3).
	bootArch8042          = 1 << 1 // an 8042 (i8042) keyboard controller exists
	bootArchNoVGA         = 1 << 2 // no VGA: do not probe it
	bootArchNoCMOSRTC     = 1 << 5 // no CMOS RTC: time comes from kvmclock
	fadtFlagHWReducedACPI = 1 << 20
	fadtFlagResetRegSup   = 1 << 10 // RESET_REG_SUP: RESET_REG and RESET_VALUE are valid
	fadtFlagPwrButton     = 1 << 4  // no fixed power button
	fadtFlagSlpButton     = 1 << 5  // no fixed sleep button

	gasSystemIO   = 1 // Generic Address Structure address space: system I/O
	gasAccessByte = 1 // access size: byte
)

// FADT returns a hardware-reduced Fixed ACPI Description Table pointing at
// the DSDT, with the sleep control and status registers at SleepControlPort
// and SleepStatusPort (§4.8.3.7) so that the guest can power off, the reset
// register at ResetPort with ResetValue (RESET_REG_SUP, §4.8.3.6) so that
// it can reset, and IA-PC boot flags saying there is an i8042 but no VGA
// and no CMOS RTC.
func FADT(dsdt uint64) []byte {
	b := make([]byte, fadtSize-headerSize)
	le := binary.LittleEndian
	body := func(off int) []byte { return b[off-headerSize:] }
	le.PutUint32(body(fadtDSDT), uint32(dsdt))
	le.PutUint16(body(fadtIAPCBootArch), bootArch8042|bootArchNoVGA|bootArchNoCMOSRTC)
	le.PutUint32(body(fadtFlags), fadtFlagHWReducedACPI|fadtFlagPwrButton|fadtFlagSlpButton|fadtFlagResetRegSup)
	putGAS(body(fadtResetReg), ResetPort)
	body(fadtResetValue)[0] = ResetValue
	body(fadtMinorVersion)[0] = fadtMinor
	le.PutUint64(body(fadtXDSDT), dsdt)
	putGAS(body(fadtSleepControlReg), SleepControlPort)
	putGAS(body(fadtSleepStatusReg), SleepStatusPort)
	copy(body(fadtHypervisorID), "IRONVISR")
	return header("FACP", fadtRevision, b)
}

// putGAS writes a 12-byte Generic Address Structure (§5.2.3.2) for a one-byte
// register at an I/O port.
func putGAS(b []byte, port uint64) {
	b[0] = gasSystemIO
	b[1] = 8 // register bit width
	b[2] = 0 // bit offset
	b[3] = gasAccessByte
	binary.LittleEndian.PutUint64(b[4:], port)
}
