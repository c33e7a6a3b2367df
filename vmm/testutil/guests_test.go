package testutil

import (
	"bytes"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// TestPVHGuestsLoad checks the ELF wrapper against the project's own PVH
// loader: the entry point is the code right after the note, in 32-bit mode.
func TestPVHGuestsLoad(t *testing.T) {
	for name, img := range map[string][]byte{
		"hello": PVHHello("HI\n", ExitReset),
		"smp":   SMPHello("SMP\n", 2, ExitPoweroff),
		"echo":  PVHEcho("ECHO\n"),
		"gsi":   PVHWaitGSI("ARMED\n", "PRESSED\n", 23, ExitPoweroff),
	} {
		mem := memory.FromBytes(make([]byte, 4<<20))
		e, err := boot.LoadPVH(mem, img, nil, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.LongMode || e.RIP != PVHLoadAddr+52+64+20 {
			t.Fatalf("%s: entry %#x long=%v", name, e.RIP, e.LongMode)
		}
		got, _ := mem.Slice(PVHLoadAddr, uint64(len(img)))
		if !bytes.Equal(got, img) {
			t.Fatalf("%s: image not loaded at %#x", name, PVHLoadAddr)
		}
	}
}

// TestMarkerEmbedded checks that the marker is in the code and the jump
// over it lands on the first instruction after it.
func TestMarkerEmbedded(t *testing.T) {
	f := RealModeHello("REAL\n", ExitPoweroff)
	if f.Addr != RealModeAddr || !bytes.Contains(f.Code, []byte("REAL\n\x00")) {
		t.Fatalf("flat image %#x % x", f.Addr, f.Code)
	}
	// push cs; pop ds; jmp rel8 over "REAL\n\0"
	if f.Code[2] != 0xeb || int(f.Code[3]) != len("REAL\n")+1 {
		t.Fatalf("jmp over marker is % x", f.Code[:4])
	}
	if f.Code[4+len("REAL\n")+1] != 0x66 && f.Code[4+len("REAL\n")+1] != 0xba {
		t.Fatalf("code after marker starts with %#x, want mov dx", f.Code[4+len("REAL\n")+1])
	}
}

func TestExitSequences(t *testing.T) {
	a := &asm{mode32: true}
	a.exit(ExitReset)
	if !bytes.HasPrefix(a.b, []byte{0xb0, 0xfe, 0xe6, 0x64}) {
		t.Fatalf("reset sequence % x", a.b)
	}
	a = &asm{mode32: true}
	a.exit(ExitPoweroff)
	// mov dx, 0x600 (16-bit operand in 32-bit code); mov al, 0x34; out dx, al
	want := []byte{0x66, 0xba, 0x00, 0x06, 0xb0, 0x34, 0xee}
	if !bytes.HasPrefix(a.b, want) {
		t.Fatalf("poweroff sequence % x, want % x", a.b, want)
	}
}
