package smbios

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
)

// parsed is one structure decoded the way a reader (Linux's dmi_scan.c,
// dmidecode) walks the table.
type parsed struct {
	typ     byte
	handle  uint16
	f       []byte   // formatted area
	strings []string // the string set, 1-based in f
}

// str returns the string f[off] refers to.
func (p parsed) str(off int) string {
	n := int(p.f[off])
	if n == 0 || n > len(p.strings) {
		return ""
	}
	return p.strings[n-1]
}

// walk decodes table, failing the test on any malformed structure.
func walk(t *testing.T, table []byte) []parsed {
	t.Helper()
	var out []parsed
	for len(table) > 0 {
		if len(table) < 4 || int(table[1]) < 4 || int(table[1]) > len(table) {
			t.Fatalf("structure header at %d malformed", len(out))
		}
		p := parsed{typ: table[0], handle: binary.LittleEndian.Uint16(table[2:]), f: table[:table[1]]}
		rest := table[table[1]:]
		end := bytes.Index(rest, []byte{0, 0})
		if end < 0 {
			t.Fatalf("type %d: string set not terminated", p.typ)
		}
		if end > 0 {
			p.strings = strings.Split(string(rest[:end]), "\x00")
		}
		out = append(out, p)
		table = rest[end+2:]
		if p.typ == typeEndOfTable && len(table) != 0 {
			t.Fatalf("%d bytes after the end-of-table structure", len(table))
		}
	}
	return out
}

func TestEntryPoint(t *testing.T) {
	ep, table, err := Build(Info{}, boot.SMBIOSTableAddr)
	if err != nil {
		t.Fatal(err)
	}
	if len(ep) != 0x18 || string(ep[:5]) != "_SM3_" || ep[6] != 0x18 || ep[7] != 3 || ep[10] != 1 {
		t.Fatalf("entry point % x", ep)
	}
	var sum byte
	for _, c := range ep {
		sum += c
	}
	if sum != 0 {
		t.Errorf("entry point sums to %#x, want 0", sum)
	}
	if got := binary.LittleEndian.Uint32(ep[12:]); int(got) != len(table) {
		t.Errorf("maximum size %d, table is %d bytes", got, len(table))
	}
	if got := binary.LittleEndian.Uint64(ep[16:]); got != boot.SMBIOSTableAddr {
		t.Errorf("table address %#x", got)
	}
}

func TestTablesSayWhatInfoSays(t *testing.T) {
	info := Info{
		Serial: "i-0123456789abcdef0", Version: "t3.small", SKU: "t3.small", Family: "Ironvisor",
		AssetTag: "ironvisor-i-0123456789abcdef0",
	}
	var err error
	if info.UUID, err = ParseUUID("EC2A1B2C-0011-2233-4455-66778899AABB"); err != nil {
		t.Fatal(err)
	}
	_, table, err := Build(info, boot.SMBIOSTableAddr)
	if err != nil {
		t.Fatal(err)
	}
	ss := walk(t, table)
	var types []byte
	handles := map[uint16]bool{}
	for _, s := range ss {
		types = append(types, s.typ)
		if handles[s.handle] {
			t.Errorf("handle %#x used twice", s.handle)
		}
		handles[s.handle] = true
	}
	if !bytes.Equal(types, []byte{0, 1, 3, 127}) {
		t.Fatalf("structure types %v, want [0 1 3 127]", types)
	}
	bios, sys, chassis := ss[0], ss[1], ss[2]
	if bios.str(4) != "Ironvisor" || bios.str(5) != DefaultBIOSVersion || bios.str(8) != DefaultBIOSDate || bios.f[0x13]&(1<<4) == 0 {
		t.Errorf("BIOS: %q %q %q ext2 %#x", bios.str(4), bios.str(5), bios.str(8), bios.f[0x13])
	}
	if len(sys.f) != 0x1B || sys.str(4) != "Ironvisor" || sys.str(5) != DefaultProduct || sys.str(6) != "t3.small" ||
		sys.str(7) != "i-0123456789abcdef0" || sys.str(0x19) != "t3.small" || sys.str(0x1A) != "Ironvisor" {
		t.Errorf("system: %q", sys.strings)
	}
	// "t3.small" is both version and SKU: the set holds it once.
	if n := strings.Count(strings.Join(sys.strings, "\n"), "t3.small"); n != 1 {
		t.Errorf("repeated string stored %d times", n)
	}
	wantUUID := []byte{0x2c, 0x1b, 0x2a, 0xec, 0x11, 0x00, 0x33, 0x22, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	if !bytes.Equal(sys.f[8:24], wantUUID) {
		t.Errorf("UUID bytes % x, want % x", sys.f[8:24], wantUUID)
	}
	if chassis.str(4) != "Ironvisor" || chassis.str(8) != info.AssetTag || chassis.str(7) != info.Serial || chassis.f[5] != 1 {
		t.Errorf("chassis: %q type %d", chassis.strings, chassis.f[5])
	}
	if end := ss[3]; len(end.f) != 4 || len(end.strings) != 0 {
		t.Errorf("end of table: %+v", end)
	}
}

func TestEmptyStringsAreLeftOut(t *testing.T) {
	_, table, err := Build(Info{}, boot.SMBIOSTableAddr)
	if err != nil {
		t.Fatal(err)
	}
	ss := walk(t, table)
	if ss[1].f[7] != 0 || ss[2].f[8] != 0 {
		t.Errorf("serial %d, asset tag %d: want string number 0", ss[1].f[7], ss[2].f[8])
	}
}

func TestRefusesBadStrings(t *testing.T) {
	for name, info := range map[string]Info{
		"NUL":         {Serial: "a\x00b"},
		"newline":     {AssetTag: "a\nb"},
		"non-ASCII":   {Product: "Ironvisor™"},
		"too long":    {Serial: strings.Repeat("x", maxString+1)},
		"bios vendor": {BIOSVendor: "\x7f"},
	} {
		if _, _, err := Build(info, boot.SMBIOSTableAddr); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Build = %v, want ErrInvalid", name, err)
		}
	}
	for _, bad := range []string{"", "ec2a1b2c00112233445566778899aabb", "EC2A1B2C-0011-2233-4455-66778899AABG", "EC2A1B2C-00112-233-4455-66778899AABB"} {
		if _, err := ParseUUID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUUID(%q) = %v", bad, err)
		}
	}
}

// fakeMem records writes by guest physical address.
type fakeMem map[uint64][]byte

func (m fakeMem) WriteAt(p []byte, gpa uint64) error { m[gpa] = bytes.Clone(p); return nil }

func TestWritePlacesTables(t *testing.T) {
	m := fakeMem{}
	if err := Write(m, Info{Serial: "i-1"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(m[boot.SMBIOSAddr], []byte("_SM3_")) || m[boot.SMBIOSTableAddr][0] != typeBIOS {
		t.Fatalf("writes at %v", m)
	}
}

// TestLayoutDoesNotOverlap checks that the SMBIOS area, at its largest,
// stays clear of the RSDP and ACPI tables and of usable RAM, inside the
// BIOS area e820 reports reserved, where Linux scans for the anchor.
func TestLayoutDoesNotOverlap(t *testing.T) {
	long := strings.Repeat("x", maxString-1)
	big := Info{Manufacturer: long, Product: long, Version: long + "v", Serial: long + "s", SKU: long + "k",
		Family: long + "f", AssetTag: long + "a", BIOSVendor: long + "b", BIOSVersion: long + "c", BIOSDate: long + "d"}
	ep, table, err := Build(big, boot.SMBIOSTableAddr)
	if err != nil {
		t.Fatal(err)
	}
	start, end := uint64(boot.SMBIOSAddr), uint64(boot.SMBIOSTableAddr)+uint64(len(table))
	switch {
	case boot.SMBIOSAddr%16 != 0 || boot.SMBIOSAddr < 0xf0000 || boot.SMBIOSAddr > 0xfffe0:
		t.Errorf("entry point %#x is not on a 16-byte boundary in Linux's scan range", boot.SMBIOSAddr)
	case boot.SMBIOSAddr+uint64(len(ep)) > boot.SMBIOSTableAddr:
		t.Errorf("entry point runs into the table")
	case end > boot.SMBIOSEnd:
		t.Errorf("largest table ends at %#x, past %#x", end, boot.SMBIOSEnd)
	}
	for name, r := range map[string][2]uint64{
		"RSDP": {boot.RSDPAddr, boot.RSDPAddr + 36},
		"ACPI": {boot.ACPIStart, boot.ACPIEnd},
		"EBDA": {boot.EBDAStart, boot.ACPIStart},
	} {
		if start < r[1] && r[0] < end {
			t.Errorf("SMBIOS [%#x, %#x) overlaps %s [%#x, %#x)", start, end, name, r[0], r[1])
		}
	}
	inReserved := false
	for _, e := range boot.E820(256 << 20) {
		if start < e.Addr+e.Size && e.Addr < boot.SMBIOSEnd {
			if e.Type != boot.E820Reserved {
				t.Errorf("e820 entry %+v of type %d overlaps the SMBIOS area", e, e.Type)
			}
			inReserved = inReserved || e.Addr <= start && boot.SMBIOSEnd <= e.Addr+e.Size
		}
	}
	if !inReserved {
		t.Error("the SMBIOS area is not inside one reserved e820 range")
	}
}

// FuzzBuild builds tables from arbitrary strings: either Build refuses
// them, or every structure decodes and its strings read back.
func FuzzBuild(f *testing.F) {
	f.Add("i-0123", "tag", "prod")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, serial, tag, product string) {
		_, table, err := Build(Info{Serial: serial, AssetTag: tag, Product: product}, boot.SMBIOSTableAddr)
		if err != nil {
			return
		}
		ss := walk(t, table)
		if ss[1].str(7) != serial || ss[2].str(8) != tag {
			t.Fatalf("serial %q tag %q read back as %q %q", serial, tag, ss[1].str(7), ss[2].str(8))
		}
	})
}
