package boot

import (
	"bytes"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// TestResetVector: the code at F000:FFF0 is "mov dx, port; mov al,
// ResetVectorValue; out dx, al; cli; hlt; jmp -3" (opcodes from the Intel
// SDM: B8+r imm16 with no prefix in real mode, B0 ib, EE, FA, F4, EB cb),
// fits in the 16 bytes below 1 MiB, lies after the SMBIOS area, and in a
// range e820 reports reserved.
func TestResetVector(t *testing.T) {
	want := []byte{0xba, 0x02, 0x06, 0xb0, ResetVectorValue, 0xee, 0xfa, 0xf4, 0xeb, 0xfd}
	code := ResetVectorCode(0x602)
	if !bytes.Equal(code, want) {
		t.Fatalf("code % x, want % x", code, want)
	}
	if ResetVector != 0xffff0 || SMBIOSEnd > ResetVector {
		t.Fatalf("reset vector %#x, SMBIOS ends at %#x", ResetVector, SMBIOSEnd)
	}
	mem, err := memory.New(memory.Region{GPA: 0, Data: make([]byte, 2<<20)})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResetVector(mem, 0x602); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	if err := mem.ReadAt(got, ResetVector); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("memory at %#x: % x", ResetVector, got)
	}
	reserved := false
	for _, e := range E820ForMemory(mem) {
		reserved = reserved || e.Type == E820Reserved && e.Addr <= ResetVector && ResetVector+16 <= e.Addr+e.Size
	}
	if !reserved {
		t.Fatalf("reset vector not in a reserved e820 range: %+v", E820ForMemory(mem))
	}
}
