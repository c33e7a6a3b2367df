package smbios

import "encoding/binary"

// Structure types (DSP0134 7).
const (
	typeBIOS       = 0
	typeSystem     = 1
	typeChassis    = 3
	typeEndOfTable = 127
)

// stringSet builds a structure's string set (DSP0134 6.1.3): each string
// NUL-terminated, the set ended by one more NUL; an empty set is two NULs.
type stringSet struct{ list []string }

// add returns s's string number, or 0 (no string) for "".
func (ss *stringSet) add(s string) byte {
	if s == "" {
		return 0
	}
	for i, x := range ss.list {
		if x == s {
			return byte(i + 1)
		}
	}
	ss.list = append(ss.list, s)
	return byte(len(ss.list))
}

// structure returns the formatted area f, whose header (type, length,
// handle) it fills, followed by the string set.
func (ss *stringSet) structure(typ byte, handle uint16, f []byte) []byte {
	f[0], f[1] = typ, byte(len(f))
	binary.LittleEndian.PutUint16(f[2:], handle)
	out := f
	for _, s := range ss.list {
		out = append(append(out, s...), 0)
	}
	if len(ss.list) == 0 {
		out = append(out, 0)
	}
	return append(out, 0)
}

// handle numbers each structure after its type, as QEMU does.
func handle(typ byte) uint16 { return uint16(typ) << 8 }

// biosInfo returns the BIOS Information structure (DSP0134 7.1, 2.4+
// layout, 0x18 bytes). Characteristics say only "not supported" (bit 3);
// extension byte 2 bit 4 says the tables describe a virtual machine.
func biosInfo(info Info) []byte {
	var ss stringSet
	f := make([]byte, 0x18)
	f[0x04] = ss.add(info.BIOSVendor)
	f[0x05] = ss.add(info.BIOSVersion)
	binary.LittleEndian.PutUint16(f[0x06:], 0xE800) // starting address segment
	f[0x08] = ss.add(info.BIOSDate)
	f[0x09] = 0                                   // ROM size: 64 KiB
	binary.LittleEndian.PutUint64(f[0x0A:], 1<<3) // characteristics not supported
	f[0x12] = 0                                   // extension byte 1
	f[0x13] = 1 << 4                              // extension byte 2: virtual machine
	f[0x14], f[0x15] = 1, 0                       // system BIOS release 1.0
	f[0x16], f[0x17] = 0xFF, 0xFF                 // no embedded controller
	return ss.structure(typeBIOS, handle(typeBIOS), f)
}

// systemInfo returns the System Information structure (DSP0134 7.2, 2.4+
// layout, 0x1B bytes). The UUID is stored with its first three fields
// little-endian (7.2.1), so that Linux prints it as it was given.
func systemInfo(info Info) []byte {
	var ss stringSet
	f := make([]byte, 0x1B)
	f[0x04] = ss.add(info.Manufacturer)
	f[0x05] = ss.add(info.Product)
	f[0x06] = ss.add(info.Version)
	f[0x07] = ss.add(info.Serial)
	putUUID(f[0x08:0x18], info.UUID)
	f[0x18] = 0x06 // wake-up type: power switch
	f[0x19] = ss.add(info.SKU)
	f[0x1A] = ss.add(info.Family)
	return ss.structure(typeSystem, handle(typeSystem), f)
}

// putUUID writes u in SMBIOS order: time_low, time_mid and
// time_hi_and_version little-endian, the rest as is.
func putUUID(dst []byte, u [16]byte) {
	binary.LittleEndian.PutUint32(dst[0:], binary.BigEndian.Uint32(u[0:]))
	binary.LittleEndian.PutUint16(dst[4:], binary.BigEndian.Uint16(u[4:]))
	binary.LittleEndian.PutUint16(dst[6:], binary.BigEndian.Uint16(u[6:]))
	copy(dst[8:], u[8:])
}

// chassisInfo returns the System Enclosure or Chassis structure (DSP0134
// 7.4, 2.7+ layout with no contained elements, 0x16 bytes).
func chassisInfo(info Info) []byte {
	var ss stringSet
	f := make([]byte, 0x16)
	f[0x04] = ss.add(info.Manufacturer)
	f[0x05] = 0x01 // type: other
	f[0x06] = ss.add(info.Version)
	f[0x07] = ss.add(info.Serial)
	f[0x08] = ss.add(info.AssetTag)
	f[0x09], f[0x0A], f[0x0B] = 0x03, 0x03, 0x03 // boot-up, power, thermal: safe
	f[0x0C] = 0x02                               // security status: unknown
	// OEM-defined (0x0D), height (0x11), power cords (0x12), contained
	// element count and length (0x13, 0x14): zero.
	f[0x15] = ss.add(info.SKU)
	return ss.structure(typeChassis, handle(typeChassis), f)
}

// endOfTable returns the End-of-Table structure (DSP0134 7.46).
func endOfTable() []byte {
	var ss stringSet
	return ss.structure(typeEndOfTable, handle(typeEndOfTable), make([]byte, 4))
}
