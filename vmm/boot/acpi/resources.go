package acpi

import "encoding/binary"

// Resource descriptors (ACPI 6.5 §6.4, "Resource Data Types for ACPI"), the
// bytes of a ResourceTemplate.

// ResourceTemplate encodes the descriptors followed by an End Tag (checksum
// 0: "treat as checksummed") as a Buffer, as ASL ResourceTemplate() does.
func ResourceTemplate(descs ...[]byte) []byte {
	return Buffer(append(concat(descs), endTagSmall, 0))
}

// Memory32Fixed encodes a 32-Bit Fixed Memory Range Descriptor (§6.4.3.4):
// tag 0x86, length 9, information (bit 0: writable), base, length.
func Memory32Fixed(writable bool, base, size uint32) []byte {
	b := []byte{0x86, 9, 0, 0}
	if writable {
		b[3] = 1
	}
	b = binary.LittleEndian.AppendUint32(b, base)
	return binary.LittleEndian.AppendUint32(b, size)
}

// Extended Interrupt Descriptor flags (§6.4.3.6).
const (
	IntConsumer  = 1 << 0 // the device consumes the interrupt
	IntEdge      = 1 << 1 // edge-triggered (0: level)
	IntActiveLow = 1 << 2 // active-low (0: active-high)
	IntShared    = 1 << 3 // shared (0: exclusive)
)

// Interrupt encodes an Extended Interrupt Descriptor (§6.4.3.6) with one
// interrupt number: tag 0x89, length 6, flags, count 1, the GSI.
func Interrupt(flags uint8, gsi uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{0x89, 6, 0, flags, 1}, gsi)
}

// IO encodes an I/O Port Descriptor (§6.4.2.5) with 16-bit decode: tag
// 0x47, information 1, min and max base, alignment, length.
func IO(minBase, maxBase uint16, align, length uint8) []byte {
	b := binary.LittleEndian.AppendUint16([]byte{0x47, 1}, minBase)
	b = binary.LittleEndian.AppendUint16(b, maxBase)
	return append(b, align, length)
}

// IRQNoFlags encodes a two-byte IRQ Descriptor (§6.4.2.1): tag 0x22 and a
// 16-bit mask with bit irq set (edge, active-high, exclusive). It panics for
// irq > 15.
func IRQNoFlags(irq uint8) []byte {
	if irq > 15 {
		panic("acpi: IRQ descriptor for an IRQ above 15")
	}
	return binary.LittleEndian.AppendUint16([]byte{0x22}, 1<<irq)
}
