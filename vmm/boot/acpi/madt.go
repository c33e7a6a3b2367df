package acpi

import (
	"encoding/binary"

	"github.com/ironvisor/ironvisor/vmm/boot"
)

// MADT interrupt controller structure types (ACPI 6.5 §5.2.12, Table 5.21).
const (
	madtLocalAPIC    = 0
	madtIOAPIC       = 1
	madtLocalAPICNMI = 4
	madtRevision     = 5
	lapicEnabled     = 1 << 0
	ioapicID         = 0
)

// MADT returns the Multiple APIC Description Table (§5.2.12): the local APIC
// address, one enabled Processor Local APIC per vCPU (UID and APIC ID =
// index), the in-kernel IOAPIC (ID 0, GSI base 0) and the LINT1 NMI of all
// processors. PCAT_COMPAT is clear: a hardware-reduced guest uses no 8259.
//
// There are no interrupt source overrides. ISA IRQs map to the same GSIs,
// which is how KVM's default IRQ routing wires its in-kernel IOAPIC (GSI n
// is pin n); the usual IRQ0→GSI2 override would be wrong for it, and a
// hardware-reduced guest does not use the PIT anyway.
func MADT(cpus int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, boot.LAPICAddr)
	b = le.AppendUint32(b, 0) // flags: no PCAT_COMPAT
	for i := range cpus {
		b = append(b, madtLocalAPIC, 8, byte(i), byte(i))
		b = le.AppendUint32(b, lapicEnabled)
	}
	b = append(b, madtIOAPIC, 12, ioapicID, 0)
	b = le.AppendUint32(b, boot.IOAPICAddr)
	b = le.AppendUint32(b, 0) // global system interrupt base
	// Local APIC NMI: all processors (0xff), flags 0 (bus-conforming), LINT1.
	b = append(b, madtLocalAPICNMI, 6, 0xff, 0, 0, 1)
	return header("APIC", madtRevision, b)
}
