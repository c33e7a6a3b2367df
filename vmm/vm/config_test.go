package vm

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
)

func TestConfigCheck(t *testing.T) {
	ok := Config{Kernel: []byte{1}, MemSize: 16 << 20}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	if ok.CPUs != 1 || ok.Device != "/dev/kvm" || ok.SysRoot != "/sys" || ok.ConsoleRing != defaultRing || ok.Log == nil {
		t.Fatalf("defaults not filled: %+v", ok)
	}
	for name, c := range map[string]Config{
		"no kernel":      {MemSize: 16 << 20},
		"tiny memory":    {Kernel: []byte{1}, MemSize: 4096},
		"unaligned":      {Kernel: []byte{1}, MemSize: 16<<20 + 1},
		"negative cpus":  {Kernel: []byte{1}, MemSize: 16 << 20, CPUs: -1},
		"too many cpus":  {Kernel: []byte{1}, MemSize: 16 << 20, CPUs: maxCPUs + 1},
		"flat unaligned": {Flat: &FlatImage{Addr: 0x10001, Code: []byte{0xf4}}, MemSize: 16 << 20},
		"flat too high":  {Flat: &FlatImage{Addr: 0x9fff0, Code: make([]byte, 32)}, MemSize: 16 << 20},
		"too many disks": {Kernel: []byte{1}, MemSize: 16 << 20, Disks: make([]Disk, maxDevices)},
	} {
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKindOf(t *testing.T) {
	bz := make([]byte, 0x300)
	copy(bz[0x202:], "HdrS")
	for _, tc := range []struct {
		cfg  Config
		want imageKind
	}{
		{Config{Kernel: bz}, imageBzImage},
		{Config{Kernel: []byte("\x7fELF....")}, imageELF},
		{Config{Kernel: []byte("junk")}, imageUnknown},
		{Config{Kernel: bz[:0x204]}, imageUnknown},
		{Config{Kernel: bz, Flat: &FlatImage{}}, imageFlat},
	} {
		v := &VM{cfg: tc.cfg}
		if got := v.kindOf(); got != tc.want {
			t.Errorf("kindOf(%d-byte kernel, flat=%v) = %d, want %d", len(tc.cfg.Kernel), tc.cfg.Flat != nil, got, tc.want)
		}
	}
}

func TestSleepRegs(t *testing.T) {
	n := 0
	p := &sleepRegs{poweroff: func() { n++ }}
	s5 := byte(acpi.SleepTypeS5<<2 | 1<<5)
	p.Write(1, []byte{s5}) // the status register never powers off
	p.Write(0, []byte{acpi.SleepTypeS5 << 2})
	p.Write(0, []byte{3<<2 | 1<<5}) // S3: not supported, ignored
	p.Write(0, nil)
	if n != 0 {
		t.Fatalf("poweroff on a non-S5 write")
	}
	p.Write(0, []byte{s5})
	if n != 1 {
		t.Fatalf("S5 write: %d poweroffs", n)
	}
	b := []byte{0xff, 0xff}
	p.Read(1, b)
	if b[0] != 0 || b[1] != 0 {
		t.Fatalf("status reads %x", b)
	}
}
