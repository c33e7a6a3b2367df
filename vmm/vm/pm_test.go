package vm

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
)

// TestResetRegister: the reset register resets on the FADT's RESET_VALUE
// and on the reset vector's value, each with its own reason, ignores
// other values and empty writes, and reads as zero.
func TestResetRegister(t *testing.T) {
	var got []string
	r := &resetReg{reset: func(reason string) { got = append(got, reason) }}
	for _, v := range []byte{0, 1, 0xfe, 0xff} {
		r.Write(0, []byte{v})
	}
	r.Write(0, nil)
	if len(got) != 0 {
		t.Fatalf("resets on other values: %q", got)
	}
	r.Write(0, []byte{acpi.ResetValue})
	r.Write(0, []byte{boot.ResetVectorValue})
	if len(got) != 2 || got[0] != "guest reset (ACPI reset register)" || got[1] != "guest reset (jumped to the BIOS reset vector)" {
		t.Fatalf("reasons %q", got)
	}
	b := []byte{0xaa}
	r.Read(0, b)
	if b[0] != 0 {
		t.Fatalf("read %#x, want 0", b[0])
	}
}
