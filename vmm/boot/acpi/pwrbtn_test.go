package acpi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
)

// powerButtonASL is the ASL the power button's AML must compile from, as
// ACPI 6.5 §5.6.9 (Generic Event Device) and §4.8.2.2.1.2 (control method
// power button, PNP0C0C) describe it.
const powerButtonASL = `DefinitionBlock ("", "DSDT", 2, "IRONVS", "IRONVISR", 1)
{
    Scope (\_SB)
    {
        Device (PWRB)
        {
            Name (_HID, EisaId ("PNP0C0C"))
        }
        Device (GED)
        {
            Name (_HID, "ACPI0013")
            Name (_CRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 23 }
            })
            Method (_EVT, 1)
            {
                Notify (\_SB.PWRB, 0x80)
            }
        }
    }
}
`

// TestPowerButtonMatchesIASL compiles powerButtonASL with ACPICA's
// compiler (no optimisations, so names stay as written) and checks that
// our encoder produces the same AML byte for byte.
func TestPowerButtonMatchesIASL(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("SKIP: iasl not installed (apt-get install acpica-tools)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "pwrbtn.asl")
	if err := os.WriteFile(src, []byte(powerButtonASL), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(iasl, "-oa", "-p", filepath.Join(dir, "pwrbtn"), src).CombinedOutput(); err != nil {
		t.Fatalf("iasl: %v\n%s", err, out)
	}
	aml, err := os.ReadFile(filepath.Join(dir, "pwrbtn.aml"))
	if err != nil {
		t.Fatal(err)
	}
	want := aml[headerSize:]
	got := Scope(`\_SB_`, PowerButton(23)...)
	if !bytes.Equal(got, want) {
		t.Errorf("power button AML:\n got % x\nwant % x (iasl)", got, want)
	}
}

func TestDSDTHasPowerButton(t *testing.T) {
	_, tables := buildTables(t, testConfig())
	aml := tables["DSDT"][headerSize:]
	for _, term := range PowerButton(boot.PowerButtonGSI) {
		if !bytes.Contains(aml, term) {
			t.Errorf("DSDT lacks % x", term)
		}
	}
}

func TestPowerButtonGSIIsItsOwn(t *testing.T) {
	for i := range boot.MaxVirtioDevices {
		if _, gsi := boot.VirtioMMIODevice(i); gsi == boot.PowerButtonGSI || gsi > boot.VirtioIRQMax {
			t.Errorf("virtio device %d has GSI %d (power button %d, last virtio GSI %d)", i, gsi, boot.PowerButtonGSI, boot.VirtioIRQMax)
		}
	}
	if boot.PowerButtonGSI > boot.IOAPICPins-1 {
		t.Errorf("power button GSI %d beyond the IOAPIC's %d pins", boot.PowerButtonGSI, boot.IOAPICPins)
	}
	cfg := Config{CPUs: 1, Devices: []MMIODevice{{Base: 0xd0000000, Size: 0x1000, GSI: boot.PowerButtonGSI}}}
	if err := cfg.validate(); err == nil {
		t.Error("a virtio device on the power button's GSI was accepted")
	}
}
