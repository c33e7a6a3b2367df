package vm

import (
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

func TestLastExitString(t *testing.T) {
	for _, tc := range []struct {
		e    lastExit
		want string
	}{
		{lastExit{reason: kvm.ExitIO, addr: 0x3f8, write: true, exits: 9}, "io write port 0x3f8 (9 exits in all)"},
		{lastExit{reason: kvm.ExitMMIO, addr: 0xd0000070, exits: 1}, "mmio read 0xd0000070 (1 exits in all)"},
		{lastExit{reason: kvm.ExitHLT, exits: 3}, "hlt (3 exits in all)"},
		{lastExit{exits: 2}, "none but kicks and shutdowns (2 exits in all)"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestVCPUStateString(t *testing.T) {
	s := VCPUState{ID: 1, XCR0: 7}
	s.Regs.RIP, s.Regs.RAX = 0xffffffff81000000, 0x7f1fa017
	s.Sregs.CR2, s.Sregs.CS.Selector, s.Sregs.IDT.Limit = 0xdead000, 0x10, 0xfff
	s.FPU.FCW = 0x37f
	got := s.String()
	for _, want := range []string{"rip=0xffffffff81000000", "rax=0x7f1fa017", "cr2=0xdead000", "xcr0=0x7", "cs  sel=0x0010", "idt base=0x0 limit=0xfff", "fcw=0x37f"} {
		if !strings.Contains(got, want) {
			t.Errorf("state lacks %q:\n%s", want, got)
		}
	}
}
