package acpi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

var le = binary.LittleEndian

// testConfig is 2 vCPUs and three virtio-mmio devices in the contract layout.
func testConfig() Config {
	var devs []MMIODevice
	for i := range 3 {
		base, gsi := boot.VirtioMMIODevice(i)
		devs = append(devs, MMIODevice{Base: base, Size: boot.VirtioMMIOSize, GSI: gsi})
	}
	return Config{CPUs: 2, Devices: devs}
}

// readTable reads the table at addr, checking that its length is sane and
// that it sums to zero.
func readTable(t *testing.T, mem *memory.Memory, addr uint64, sig string) []byte {
	t.Helper()
	if addr < boot.ACPIStart || addr >= boot.ACPIEnd {
		t.Fatalf("%s at %#x outside the ACPI area", sig, addr)
	}
	hdr := make([]byte, headerSize)
	if err := mem.ReadAt(hdr, addr); err != nil {
		t.Fatal(err)
	}
	if string(hdr[:4]) != sig {
		t.Fatalf("table at %#x is %q, want %q", addr, hdr[:4], sig)
	}
	n := uint64(le.Uint32(hdr[4:]))
	if n < headerSize || addr+n > boot.ACPIEnd {
		t.Fatalf("%s length %d", sig, n)
	}
	b := make([]byte, n)
	mem.ReadAt(b, addr)
	if checksum(b) != 0 {
		t.Errorf("%s does not sum to zero", sig)
	}
	if string(b[10:16]) != oemID || string(b[28:32]) != creatorID {
		t.Errorf("%s OEM fields % x", sig, b[10:36])
	}
	return b
}

// buildTables builds the tables into a fresh 1 MiB guest and returns the
// guest and the DSDT, FADT, MADT and XSDT.
func buildTables(t *testing.T, cfg Config) (*memory.Memory, map[string][]byte) {
	t.Helper()
	mem := memory.FromBytes(make([]byte, 1<<20))
	if err := Build(mem, cfg); err != nil {
		t.Fatal(err)
	}
	rsdp := make([]byte, 36)
	mem.ReadAt(rsdp, boot.RSDPAddr)
	if string(rsdp[:8]) != "RSD PTR " || rsdp[15] != 2 || le.Uint32(rsdp[20:]) != 36 || le.Uint32(rsdp[16:]) != 0 {
		t.Fatalf("RSDP % x", rsdp)
	}
	if checksum(rsdp[:20]) != 0 || checksum(rsdp) != 0 {
		t.Fatal("RSDP checksums")
	}
	tables := map[string][]byte{"RSDP": rsdp}
	xsdt := readTable(t, mem, le.Uint64(rsdp[24:]), "XSDT")
	tables["XSDT"] = xsdt
	if len(xsdt) != headerSize+16 {
		t.Fatalf("XSDT has %d bytes of entries, want 2", len(xsdt)-headerSize)
	}
	tables["FACP"] = readTable(t, mem, le.Uint64(xsdt[36:]), "FACP")
	tables["APIC"] = readTable(t, mem, le.Uint64(xsdt[44:]), "APIC")
	tables["DSDT"] = readTable(t, mem, le.Uint64(tables["FACP"][fadtXDSDT:]), "DSDT")
	return mem, tables
}

func TestFADT(t *testing.T) {
	_, tables := buildTables(t, testConfig())
	f := tables["FACP"]
	if len(f) != 276 || f[8] != 6 || f[fadtMinorVersion] != 5 {
		t.Fatalf("FADT length %d revision %d.%d", len(f), f[8], f[fadtMinorVersion])
	}
	if le.Uint32(f[fadtDSDT:]) != uint32(le.Uint64(f[fadtXDSDT:])) {
		t.Error("DSDT and X_DSDT differ")
	}
	if le.Uint32(f[fadtFlags:])&(1<<20) == 0 {
		t.Error("HW_REDUCED_ACPI not set")
	}
	if arch := le.Uint16(f[fadtIAPCBootArch:]); arch != 1<<1|1<<2|1<<5 {
		t.Errorf("IAPC_BOOT_ARCH %#x", arch)
	}
	// The sleep control (244), sleep status (256) and reset (116)
	// registers: one byte each, in system I/O at 0x600, 0x601 and 0x602.
	for off, port := range map[int]byte{244: 0x00, 256: 0x01, 116: 0x02} {
		wantGAS := []byte{1, 8, 0, 1, port, 0x06, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(f[off:off+12], wantGAS) {
			t.Errorf("register at %d: % x, want % x", off, f[off:off+12], wantGAS)
		}
	}
	// RESET_REG_SUP (flags bit 10) and RESET_VALUE (offset 128), which
	// Linux's acpi_reboot checks before it writes the reset register.
	if le.Uint32(f[112:])&(1<<10) == 0 {
		t.Error("RESET_REG_SUP not set")
	}
	if f[128] != ResetValue || ResetValue == 0 || ResetPort != 0x602 {
		t.Errorf("RESET_VALUE %#x, want %#x (port %#x)", f[128], ResetValue, ResetPort)
	}
	// No fixed-hardware register blocks in a hardware-reduced FADT.
	for off := 56; off < 88; off += 4 {
		if le.Uint32(f[off:]) != 0 {
			t.Errorf("fixed hardware block at offset %d is %#x", off, le.Uint32(f[off:]))
		}
	}
}

func TestMADT(t *testing.T) {
	for _, cpus := range []int{1, 2, 8, boot.MaxCPUs} {
		cfg := testConfig()
		cfg.CPUs = cpus
		_, tables := buildTables(t, cfg)
		m := tables["APIC"]
		if le.Uint32(m[36:]) != boot.LAPICAddr || le.Uint32(m[40:]) != 0 {
			t.Fatalf("LAPIC address %#x flags %#x", le.Uint32(m[36:]), le.Uint32(m[40:]))
		}
		var lapics, ioapics, nmis int
		for off := 44; off < len(m); {
			typ, n := m[off], int(m[off+1])
			if n < 2 || off+n > len(m) {
				t.Fatalf("entry at %d has length %d", off, n)
			}
			e := m[off : off+n]
			switch typ {
			case madtLocalAPIC:
				if n != 8 || int(e[2]) != lapics || int(e[3]) != lapics || le.Uint32(e[4:]) != 1 {
					t.Errorf("local APIC entry % x, want UID/ID %d enabled", e, lapics)
				}
				lapics++
			case madtIOAPIC:
				if n != 12 || e[2] != 0 || le.Uint32(e[4:]) != boot.IOAPICAddr || le.Uint32(e[8:]) != 0 {
					t.Errorf("IOAPIC entry % x", e)
				}
				ioapics++
			case madtLocalAPICNMI:
				if n != 6 || e[2] != 0xff || e[5] != 1 {
					t.Errorf("NMI entry % x", e)
				}
				nmis++
			default:
				t.Errorf("unexpected MADT entry type %d", typ)
			}
			off += n
		}
		if lapics != cpus || ioapics != 1 || nmis != 1 {
			t.Errorf("%d CPUs: %d local APICs, %d IOAPICs, %d NMI entries", cpus, lapics, ioapics, nmis)
		}
	}
}

func TestDSDTDescribesDevices(t *testing.T) {
	cfg := testConfig()
	_, tables := buildTables(t, cfg)
	d := tables["DSDT"]
	if d[8] != 2 {
		t.Errorf("DSDT revision %d", d[8])
	}
	aml := d[headerSize:]
	for i, dev := range cfg.Devices {
		crs := ResourceTemplate(Memory32Fixed(true, uint32(dev.Base), uint32(dev.Size)), Interrupt(IntConsumer|IntEdge, dev.GSI))
		want := Device("V00"+string(rune('0'+i)), Name("_HID", String("LNRO0005")), Name("_UID", Integer(uint64(i))), Name("_CRS", crs))
		if !bytes.Contains(aml, want) {
			t.Errorf("device %d not in DSDT", i)
		}
	}
	s5 := []byte{0x08, '\\', '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x05}
	if !bytes.HasSuffix(aml, s5) {
		t.Error(`DSDT does not end with Name(\_S5_, Package(){5, 5})`)
	}
	// The scope's PkgLength covers exactly everything before \_S5_.
	if aml[0] != scopeOp {
		t.Fatalf("DSDT starts with %#x", aml[0])
	}
	v, _ := decodePkgLength(aml[1:])
	if 1+v != len(aml)-len(s5) {
		t.Errorf("scope PkgLength %d, scope is %d bytes", v, len(aml)-len(s5)-1)
	}
}

func TestBuildRefuses(t *testing.T) {
	many := testConfig()
	for i := range 200 {
		many.Devices = append(many.Devices, MMIODevice{Base: 0xd0000000 + uint64(i)*0x1000, Size: 0x1000, GSI: 5})
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"no CPUs", Config{CPUs: 0}, nil},
		{"255 CPUs", Config{CPUs: 255}, nil},
		{"device above 4G", Config{CPUs: 1, Devices: []MMIODevice{{Base: 1 << 32, Size: 0x1000, GSI: 5}}}, nil},
		{"device crossing 4G", Config{CPUs: 1, Devices: []MMIODevice{{Base: 1<<32 - 0x800, Size: 0x1000, GSI: 5}}}, nil},
		{"empty window", Config{CPUs: 1, Devices: []MMIODevice{{Base: 0xd0000000, GSI: 5}}}, nil},
		{"GSI 24", Config{CPUs: 1, Devices: []MMIODevice{{Base: 0xd0000000, Size: 0x1000, GSI: 24}}}, nil},
		{"too many devices", many, ErrTooLarge},
	} {
		ram := make([]byte, 1<<20)
		err := Build(memory.FromBytes(ram), tc.cfg)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if !bytes.Equal(ram, make([]byte, len(ram))) {
			t.Errorf("%s: memory written before refusing", tc.name)
		}
	}
}

func TestIsPoweroff(t *testing.T) {
	for v, want := range map[byte]bool{0x34: true, 0x80: false, 0x14: false, 0x2c: false, 0x20: false, 0xb4: true} {
		if IsPoweroff(v) != want {
			t.Errorf("IsPoweroff(%#x) = %v", v, !want)
		}
	}
}

// TestIASLDisassembles feeds every table to ACPICA's disassembler, the
// parser Linux shares, and checks that it decodes our AML and fields.
func TestIASLDisassembles(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("SKIP: iasl not installed (apt-get install acpica-tools)")
	}
	_, tables := buildTables(t, testConfig())
	dir := t.TempDir()
	want := map[string][]string{
		"DSDT": {`Name (_HID, "LNRO0005")`, "Memory32Fixed (ReadWrite,", "0xD0002000", "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )",
			`EisaId ("PNP0501")`, `EisaId ("PNP0303")`, `Name (\_S5, Package (0x02)`,
			`EisaId ("PNP0C0C")`, `Name (_HID, "ACPI0013" /* Generic Event Device */)`, "Method (_EVT, 1, NotSerialized)", "0x00000017,", `Notify (\_SB.PWRB, 0x80)`},
		"FACP": {"Hardware Reduced (V5) : 1", "Space ID : 01 [SystemIO]", "Address : 0000000000000600"},
		"APIC": {"Local Apic Address : FEE00000", "Address : FEC00000", "Processor Enabled : 1"},
		"XSDT": {"ACPI Table Address   0 :", "ACPI Table Address   1 :"},
	}
	for sig, needles := range want {
		p := filepath.Join(dir, strings.ToLower(sig)+".dat")
		if err := os.WriteFile(p, tables[sig], 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(iasl, "-d", p).CombinedOutput()
		if err != nil {
			t.Fatalf("iasl -d %s: %v\n%s", sig, err, out)
		}
		if strings.Contains(strings.ToLower(string(out)), "error") {
			t.Errorf("iasl reports errors for %s:\n%s", sig, out)
		}
		dsl, err := os.ReadFile(strings.TrimSuffix(p, ".dat") + ".dsl")
		if err != nil {
			t.Fatal(err)
		}
		norm := strings.Join(strings.Fields(string(dsl)), " ")
		for _, n := range needles {
			if !strings.Contains(norm, strings.Join(strings.Fields(n), " ")) {
				t.Errorf("%s disassembly lacks %q:\n%s", sig, n, dsl)
			}
		}
	}
}
