package acpi

import (
	"bytes"
	"testing"
)

// decodePkgLength decodes a PkgLength (ACPI 6.5 §20.2.4), returning the
// encoded value and the number of bytes it took.
func decodePkgLength(b []byte) (int, int) {
	n := int(b[0] >> 6)
	if n == 0 {
		return int(b[0] & 0x3f), 1
	}
	v := int(b[0] & 0xf)
	for i := 1; i <= n; i++ {
		v |= int(b[i]) << (4 + 8*(i-1))
	}
	return v, n + 1
}

func TestPkgLength(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x01}},
		{5, []byte{0x06}},
		{62, []byte{0x3f}},                // largest one-byte encoding
		{63, []byte{0x41, 0x04}},          // 63+2 = 0x41
		{0xffd, []byte{0x4f, 0xff}},       // 0xfff, largest two-byte encoding
		{0xffe, []byte{0x81, 0x00, 0x01}}, // 0x1001
		{0xffffc, []byte{0x8f, 0xff, 0xff}},
		{0xffffd, []byte{0xc1, 0x00, 0x00, 0x01}},
	} {
		got := PkgLength(tc.n)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("PkgLength(%#x) = % x, want % x", tc.n, got, tc.want)
		}
	}
}

func TestIntegerEncoding(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{5, []byte{0x0a, 0x05}},
		{0xff, []byte{0x0a, 0xff}},
		{0x100, []byte{0x0b, 0x00, 0x01}},
		{0xd0000000, []byte{0x0c, 0x00, 0x00, 0x00, 0xd0}},
		{1 << 32, []byte{0x0e, 0, 0, 0, 0, 1, 0, 0, 0}},
	} {
		if got := Integer(tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("Integer(%#x) = % x, want % x", tc.v, got, tc.want)
		}
	}
}

// TestAMLTerms checks terms against byte sequences worked out by hand from
// the grammar in ACPI 6.5 §20.2 (and matching what iasl emits for the same
// ASL).
func TestAMLTerms(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{`String("LNRO0005")`, String("LNRO0005"), []byte{0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0}},
		{`EISAID("PNP0501")`, EISAID("PNP0501"), []byte{0x0c, 0x41, 0xd0, 0x05, 0x01}},
		{`EISAID("PNP0303")`, EISAID("PNP0303"), []byte{0x0c, 0x41, 0xd0, 0x03, 0x03}},
		{`NameString("_HID")`, NameString("_HID"), []byte("_HID")},
		{`NameString("\_SB")`, NameString(`\_SB`), []byte(`\_SB_`)},
		{`NameString("_SB_.COM1")`, NameString("_SB_.COM1"), []byte{0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'}},
		{`NameString("\A.B.C")`, NameString(`\A.B.C`), []byte{'\\', 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}},
		{`Name(\_S5_, Package(){5, 5})`, Name(`\_S5_`, Package(Integer(5), Integer(5))),
			[]byte{0x08, '\\', '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x05}},
		{`Name(_UID, Zero)`, Name("_UID", Integer(0)), []byte{0x08, '_', 'U', 'I', 'D', 0x00}},
		{`Buffer(){1,2,3}`, Buffer([]byte{1, 2, 3}), []byte{0x11, 0x06, 0x0a, 0x03, 1, 2, 3}},
		{`Device(V000){Name(_UID, One)}`, Device("V000", Name("_UID", Integer(1))),
			[]byte{0x5b, 0x82, 0x0b, 'V', '0', '0', '0', 0x08, '_', 'U', 'I', 'D', 0x01}},
		{`Scope(\_SB){}`, Scope(`\_SB_`), []byte{0x10, 0x06, '\\', '_', 'S', 'B', '_'}},
		{`Memory32Fixed(ReadWrite, 0xd0000000, 0x1000)`, Memory32Fixed(true, 0xd0000000, 0x1000),
			[]byte{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00}},
		{`Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive){5}`, Interrupt(IntConsumer|IntEdge, 5),
			[]byte{0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00}},
		{`IO(Decode16, 0x3f8, 0x3f8, 0, 8)`, IO(0x3f8, 0x3f8, 0, 8), []byte{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08}},
		{`IRQNoFlags(){4}`, IRQNoFlags(4), []byte{0x22, 0x10, 0x00}},
		{`ResourceTemplate(){IRQNoFlags(){1}}`, ResourceTemplate(IRQNoFlags(1)),
			[]byte{0x11, 0x08, 0x0a, 0x05, 0x22, 0x02, 0x00, 0x79, 0x00}},
		// NotifyOp NotifyObject(SuperName) NotifyValue(TermArg) (§20.2.5.3).
		{`Notify(\_SB_.PWRB, 0x80)`, Notify(`\_SB_.PWRB`, Integer(0x80)),
			[]byte{0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80}},
		// MethodOp PkgLength NameString MethodFlags TermList (§20.2.5.2):
		// 4 + 1 + 13 bytes after the PkgLength, so PkgLength 0x13; flags
		// ArgCount 1, NotSerialized, SyncLevel 0.
		{`Method(_EVT, 1){Notify(\_SB_.PWRB, 0x80)}`, Method("_EVT", 1, false, Notify(`\_SB_.PWRB`, Integer(0x80))),
			[]byte{0x14, 0x13, '_', 'E', 'V', 'T', 0x01, 0x86, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80}},
		// MethodFlags bit 3 is SerializeFlag.
		{`Method(_STA, 0, Serialized){}`, Method("_STA", 0, true), []byte{0x14, 0x06, '_', 'S', 'T', 'A', 0x08}},
		{`Method(MTH7, 7){}`, Method("MTH7", 7, false), []byte{0x14, 0x06, 'M', 'T', 'H', '7', 0x07}},
		{`EISAID("PNP0C0C")`, EISAID("PNP0C0C"), []byte{0x0c, 0x41, 0xd0, 0x0c, 0x0c}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, tc.got, tc.want)
		}
	}
}

func TestLongPackageUsesMultiBytePkgLength(t *testing.T) {
	data := bytes.Repeat([]byte{0xab}, 300)
	b := Buffer(data)
	v, n := decodePkgLength(b[1:])
	if n != 2 || v != len(b)-1 {
		t.Fatalf("PkgLength %d in %d bytes, term is %d bytes after the opcode", v, n, len(b)-1)
	}
}

func TestInvalidNamesPanic(t *testing.T) {
	for _, name := range []string{"", "TOOLONG", "1ABC", "a", "AB-C"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NameString(%q) did not panic", name)
				}
			}()
			NameString(name)
		}()
	}
}

func TestInvalidMethodsPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"8 arguments":  func() { Method("MTH8", 8, false) },
		"-1 arguments": func() { Method("MTHN", -1, false) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func FuzzPkgLength(f *testing.F) {
	f.Add(0)
	f.Add(63)
	f.Add(0xffffd)
	f.Fuzz(func(t *testing.T, n int) {
		if n < 0 || n > maxPkgLength-4 {
			return
		}
		b := PkgLength(n)
		v, size := decodePkgLength(b)
		if size != len(b) || v != n+len(b) {
			t.Fatalf("PkgLength(%d) = % x decodes to %d in %d bytes", n, b, v, size)
		}
		if len(b) > 1 && v <= 0x3f {
			t.Fatalf("PkgLength(%d) not minimal: % x", n, b)
		}
	})
}

func FuzzInteger(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(1 << 40))
	f.Fuzz(func(t *testing.T, v uint64) {
		b := Integer(v)
		var got uint64
		switch b[0] {
		case 0x00, 0x01:
			got = uint64(b[0])
		case 0x0a, 0x0b, 0x0c, 0x0e:
			for i := len(b) - 1; i >= 1; i-- {
				got = got<<8 | uint64(b[i])
			}
		default:
			t.Fatalf("Integer(%#x) prefix %#x", v, b[0])
		}
		if got != v {
			t.Fatalf("Integer(%#x) = % x decodes to %#x", v, b, got)
		}
	})
}
