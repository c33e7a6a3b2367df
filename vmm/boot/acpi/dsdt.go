package acpi

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot"
)

// Legacy devices the DSDT describes so that Linux's PNP drivers bind them:
// the 16550 on COM1 (PNP0501) and the i8042 keyboard port (PNP0303; no AUX
// port, so Linux does not probe a mouse).
const (
	com1Base   = 0x3f8
	com1IRQ    = 4
	i8042Data  = 0x60
	i8042Cmd   = 0x64
	i8042KbIRQ = 1
	dsdtRev    = 2 // 64-bit AML integers
	// GEDHID is the _HID of a Generic Event Device (ACPI 6.5 §5.6.9),
	// which Linux's drivers/acpi/evged.c binds.
	GEDHID = "ACPI0013"
	// PowerButtonHID is the control method power button's _HID (§4.8.2.2.1.2),
	// which Linux's drivers/acpi/button.c binds.
	PowerButtonHID = "PNP0C0C"
	// notifyDeviceSpecific is Notify value 0x80, which for a power button
	// means "pressed" (§5.6.6, Table 5.186).
	notifyDeviceSpecific = 0x80
	// VirtioMMIOHID is the _HID Linux's virtio_mmio driver matches
	// (drivers/virtio/virtio_mmio.c, "LNRO0005").
	VirtioMMIOHID = "LNRO0005"
)

// DSDT returns the Differentiated System Description Table (§5.2.11.1):
//
//	Scope (\_SB_) {
//	    Device (COM1) { _HID EISAID("PNP0501"), _UID 1, _CRS { IO 0x3f8/8, IRQNoFlags {4} } }
//	    Device (PS2K) { _HID EISAID("PNP0303"), _CRS { IO 0x60/1, IO 0x64/1, IRQNoFlags {1} } }
//	    Device (PWRB) { _HID EISAID("PNP0C0C") }
//	    Device (GED_) { _HID "ACPI0013", _CRS { Interrupt (Consumer, Edge, ActiveHigh, Exclusive) {23} },
//	                    Method (_EVT, 1) { Notify (\_SB_.PWRB, 0x80) } }
//	    Device (V000) { _HID "LNRO0005", _UID 0, _CRS { Memory32Fixed (RW, base, size),
//	                    Interrupt (Consumer, Edge, ActiveHigh, Exclusive) {gsi} } }
//	    ...
//	}
//	Name (\_S5_, Package () { 5, 5 })
func DSDT(devs []MMIODevice) []byte {
	terms := [][]byte{
		Device("COM1",
			Name("_HID", EISAID("PNP0501")),
			Name("_UID", Integer(1)),
			Name("_CRS", ResourceTemplate(IO(com1Base, com1Base, 0, 8), IRQNoFlags(com1IRQ)))),
		Device("PS2K",
			Name("_HID", EISAID("PNP0303")),
			Name("_CRS", ResourceTemplate(IO(i8042Data, i8042Data, 0, 1), IO(i8042Cmd, i8042Cmd, 0, 1), IRQNoFlags(i8042KbIRQ)))),
	}
	terms = append(terms, PowerButton(boot.PowerButtonGSI)...)
	for i, d := range devs {
		terms = append(terms, Device(fmt.Sprintf("V%03d", i),
			Name("_HID", String(VirtioMMIOHID)),
			Name("_UID", Integer(uint64(i))),
			Name("_CRS", ResourceTemplate(
				Memory32Fixed(true, uint32(d.Base), uint32(d.Size)),
				Interrupt(IntConsumer|IntEdge, d.GSI)))))
	}
	aml := append(Scope(`\_SB_`, terms...), Name(`\_S5_`, Package(Integer(SleepTypeS5), Integer(SleepTypeS5)))...)
	return header("DSDT", dsdtRev, aml)
}

// PowerButton returns the devices of the ACPI power button, for \_SB_: a
// control method power button, PWRB, and a Generic Event Device whose one
// interrupt is gsi (edge-triggered, active-high) and whose _EVT notifies
// PWRB with 0x80, "pressed". Linux's GED driver calls _EVT when gsi fires,
// and the button driver turns the notification into KEY_POWER on its
// "Power Button" input device, which systemd-logind honours.
func PowerButton(gsi uint32) [][]byte {
	return [][]byte{
		Device("PWRB", Name("_HID", EISAID(PowerButtonHID))),
		Device("GED",
			Name("_HID", String(GEDHID)),
			Name("_CRS", ResourceTemplate(Interrupt(IntConsumer|IntEdge, gsi))),
			Method("_EVT", 1, false, Notify(`\_SB_.PWRB`, Integer(notifyDeviceSpecific)))),
	}
}
