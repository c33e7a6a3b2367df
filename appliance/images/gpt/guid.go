package gpt

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is a GUID in its on-disk form, EFI_GUID: the first three fields
// little-endian, the last eight bytes as they are (UEFI 2.10, appendix A).
type GUID [16]byte

// Partition type GUIDs an image reader looks for (UEFI 2.10 table 5.7 and
// the Discoverable Partitions Specification).
var (
	TypeESP             = MustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeBIOSBoot        = MustParseGUID("21686148-6449-6E6F-744E-656564454649")
	TypeLinuxFilesystem = MustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	TypeLinuxRootX86_64 = MustParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	TypeLinuxXBOOTLDR   = MustParseGUID("BC13C2FF-59E6-4262-A352-B275FD6F7172")
	TypeLinuxSwap       = MustParseGUID("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F")
)

// ParseGUID parses the canonical text form
// "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", in either case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	parts := strings.Split(s, "-")
	if len(s) != 36 || len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 ||
		len(parts[2]) != 4 || len(parts[3]) != 4 {
		return g, fmt.Errorf("gpt: GUID %q is not in 8-4-4-4-12 form", s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil || len(raw) != 16 {
		return g, fmt.Errorf("gpt: GUID %q is not hexadecimal", s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(raw[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(raw[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(raw[6:]))
	copy(g[8:], raw[8:])
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed s.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the canonical upper-case text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// IsZero reports whether g is all zeros (an unused partition entry).
func (g GUID) IsZero() bool { return g == GUID{} }
