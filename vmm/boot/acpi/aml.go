package acpi

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// AML encoding (ACPI 6.5 §20, "ACPI Machine Language (AML) Specification").
// Each function returns the bytes of one term. Names and strings are the
// VMM's own constants, never guest input; an invalid one is a programming
// error and panics, as the doc comments say.
const (
	zeroOp        = 0x00
	oneOp         = 0x01
	nameOp        = 0x08
	bytePrefix    = 0x0a
	wordPrefix    = 0x0b
	dwordPrefix   = 0x0c
	stringPrefix  = 0x0d
	qwordPrefix   = 0x0e
	scopeOp       = 0x10
	bufferOp      = 0x11
	packageOp     = 0x12
	methodOp      = 0x14
	notifyOp      = 0x86
	maxMethodArgs = 7 // MethodFlags bits 2:0 (§20.2.5.2)
	serializeFlag = 1 << 3
	extOpPrefix   = 0x5b
	deviceOp      = 0x82 // after extOpPrefix
	rootChar      = '\\'
	dualNamePfx   = 0x2e
	multiNamePfx  = 0x2f
	maxPkgLength  = 1<<28 - 1
	endTagSmall   = 0x79 // End Tag small resource descriptor (§6.4.2.9)
	pkgLenMaxByte = 0x3f
)

// PkgLength encodes the PkgLength of a term whose contents after the
// PkgLength are n bytes (§20.2.4): the encoded value counts the PkgLength
// bytes themselves. One byte holds up to 0x3F; longer lengths put the byte
// count in bits 7:6 of the first byte, the low nibble in bits 3:0 and the
// rest in following bytes. It panics past the 28-bit maximum.
func PkgLength(n int) []byte {
	for size := 1; size <= 4; size++ {
		total := n + size
		if size == 1 && total <= pkgLenMaxByte {
			return []byte{byte(total)}
		}
		if size > 1 && total < 1<<(4+8*(size-1)) {
			b := make([]byte, size)
			b[0] = byte(size-1)<<6 | byte(total&0xf)
			for i := 1; i < size; i++ {
				b[i] = byte(total >> (4 + 8*(i-1)))
			}
			return b
		}
	}
	panic(fmt.Sprintf("acpi: AML package of %d bytes exceeds PkgLength", n))
}

// Integer encodes v as the smallest ComputationalData that holds it: Zero,
// One, or a Byte/Word/DWord/QWord constant (§20.2.3).
func Integer(v uint64) []byte {
	switch {
	case v == 0:
		return []byte{zeroOp}
	case v == 1:
		return []byte{oneOp}
	case v <= 0xff:
		return []byte{bytePrefix, byte(v)}
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16([]byte{wordPrefix}, uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32([]byte{dwordPrefix}, uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{qwordPrefix}, v)
}

// String encodes an ASCII string constant (StringPrefix AsciiCharList
// NullChar). It panics on a character outside 0x01..0x7F.
func String(s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] > 0x7f {
			panic(fmt.Sprintf("acpi: AML string %q has byte %#x", s, s[i]))
		}
	}
	return append(append([]byte{stringPrefix}, s...), 0)
}

// EISAID returns the 32-bit compressed EISA ID of an ID like "PNP0501"
// (three letters, four hex digits; ASL EISAID()), as an Integer. It panics
// on a malformed ID.
func EISAID(id string) []byte {
	if len(id) != 7 {
		panic(fmt.Sprintf("acpi: EISA ID %q is not 7 characters", id))
	}
	var v uint32
	for i := 0; i < 3; i++ {
		if id[i] < 'A' || id[i] > 'Z' {
			panic(fmt.Sprintf("acpi: EISA ID %q: vendor letter %q", id, id[i]))
		}
		v = v<<5 | uint32(id[i]-0x40)
	}
	for i := 3; i < 7; i++ {
		d := strings.IndexByte("0123456789ABCDEF", id[i])
		if d < 0 {
			panic(fmt.Sprintf("acpi: EISA ID %q: product digit %q", id, id[i]))
		}
		v = v<<4 | uint32(d)
	}
	// The 32-bit value is stored big-endian in the integer.
	return Integer(uint64(v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24))
}

// NameString encodes a name path such as "_HID", "\\_S5_" or "\\_SB_.V000"
// (§20.2.2). Segments shorter than four characters are padded with '_'. It
// panics on an invalid segment.
func NameString(path string) []byte {
	var b []byte
	if strings.HasPrefix(path, "\\") {
		b = append(b, rootChar)
		path = path[1:]
	}
	segs := strings.Split(path, ".")
	switch {
	case len(segs) == 2:
		b = append(b, dualNamePfx)
	case len(segs) > 2:
		b = append(b, multiNamePfx, byte(len(segs)))
	}
	for _, s := range segs {
		b = append(b, nameSeg(s)...)
	}
	return b
}

// nameSeg validates and pads one NameSeg: a lead character A-Z or '_',
// then A-Z, 0-9 or '_'.
func nameSeg(s string) []byte {
	if len(s) == 0 || len(s) > 4 {
		panic(fmt.Sprintf("acpi: AML name segment %q", s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			panic(fmt.Sprintf("acpi: AML name segment %q has %q", s, c))
		}
	}
	return []byte(s + strings.Repeat("_", 4-len(s)))
}

// Name encodes DefName: NameOp NameString DataRefObject.
func Name(path string, value []byte) []byte {
	return append(append([]byte{nameOp}, NameString(path)...), value...)
}

// Package encodes DefPackage: PackageOp PkgLength NumElements PackageElementList.
// It panics with more than 255 elements.
func Package(elems ...[]byte) []byte {
	if len(elems) > 0xff {
		panic("acpi: AML package with more than 255 elements")
	}
	body := append([]byte{byte(len(elems))}, concat(elems)...)
	return withPkgLength([]byte{packageOp}, body)
}

// Buffer encodes DefBuffer: BufferOp PkgLength BufferSize ByteList.
func Buffer(data []byte) []byte {
	body := append(Integer(uint64(len(data))), data...)
	return withPkgLength([]byte{bufferOp}, body)
}

// Scope encodes DefScope: ScopeOp PkgLength NameString TermList.
func Scope(path string, terms ...[]byte) []byte {
	return withPkgLength([]byte{scopeOp}, append(NameString(path), concat(terms)...))
}

// Device encodes DefDevice: ExtOpPrefix DeviceOp PkgLength NameString TermList.
func Device(path string, terms ...[]byte) []byte {
	return withPkgLength([]byte{extOpPrefix, deviceOp}, append(NameString(path), concat(terms)...))
}

// Method encodes DefMethod: MethodOp PkgLength NameString MethodFlags
// TermList (§20.2.5.2). MethodFlags holds the argument count (bits 2:0),
// SerializeFlag (bit 3) and SyncLevel 0. It panics on more than 7
// arguments.
func Method(path string, args int, serialized bool, terms ...[]byte) []byte {
	if args < 0 || args > maxMethodArgs {
		panic(fmt.Sprintf("acpi: AML method %s with %d arguments", path, args))
	}
	flags := byte(args)
	if serialized {
		flags |= serializeFlag
	}
	body := append(append(NameString(path), flags), concat(terms)...)
	return withPkgLength([]byte{methodOp}, body)
}

// Notify encodes DefNotify: NotifyOp NotifyObject NotifyValue (§20.2.5.3),
// with the object named by path and value a TermArg such as Integer(0x80).
func Notify(path string, value []byte) []byte {
	return append(append([]byte{notifyOp}, NameString(path)...), value...)
}

// withPkgLength returns op, the PkgLength of body, then body.
func withPkgLength(op, body []byte) []byte {
	return append(append(op, PkgLength(len(body))...), body...)
}

// concat joins byte slices.
func concat(parts [][]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
