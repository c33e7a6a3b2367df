package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// zeroPage reads boot_params back from guest memory.
func zeroPage(t *testing.T, mem *memory.Memory) []byte {
	t.Helper()
	zp := make([]byte, zeroPageSize)
	if err := mem.ReadAt(zp, ZeroPage); err != nil {
		t.Fatal(err)
	}
	return zp
}

// decodeE820 reads the e820 table out of boot_params.
func decodeE820(zp []byte) []E820Entry {
	le := binary.LittleEndian
	var out []E820Entry
	for i := range int(zp[bpE820Entries]) {
		o := bpE820Table + i*e820EntrySize
		out = append(out, E820Entry{le.Uint64(zp[o:]), le.Uint64(zp[o+8:]), le.Uint32(zp[o+16:])})
	}
	return out
}

func TestLoadLinux(t *testing.T) {
	const ramSize = 64 << 20
	mem := memory.FromBytes(make([]byte, ramSize))
	img := defaultFake().build()
	initrd := bytes.Repeat([]byte("initrd!"), 100000)
	cmdline := "console=ttyS0 quiet panic=-1"
	s, err := LoadLinux(mem, img, initrd, cmdline)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if s.RIP != 0x1000000+0x200 || s.RSI != ZeroPage || !s.LongMode || s.CR3 != PML4Addr {
		t.Errorf("entry rip %#x rsi %#x long %v cr3 %#x", s.RIP, s.RSI, s.LongMode, s.CR3)
	}
	got := make([]byte, 0x3000)
	mem.ReadAt(got, 0x1000000)
	if !bytes.Equal(got, img[40*512:]) {
		t.Error("protected-mode kernel not at pref_address")
	}
	zp := zeroPage(t, mem)
	if !bytes.Equal(zp[offMagic:offMagic+4], []byte("HdrS")) || le.Uint64(zp[offPrefAddress:]) != 0x1000000 {
		t.Error("setup header not copied into boot_params")
	}
	if zp[0x1ef] != 0 || zp[hdrStart-1] != 0 {
		t.Error("bytes before the header (sentinel) are not zero")
	}
	if zp[offTypeOfLoader] != 0xff || zp[offLoadFlags]&(loadedHigh|canUseHeap) != loadedHigh|canUseHeap {
		t.Errorf("type_of_loader %#x loadflags %#x", zp[offTypeOfLoader], zp[offLoadFlags])
	}
	if le.Uint16(zp[offHeapEndPtr:]) != 0xfe00 {
		t.Errorf("heap_end_ptr %#x", le.Uint16(zp[offHeapEndPtr:]))
	}
	if le.Uint32(zp[offCmdLinePtr:]) != CmdlineAddr || le.Uint32(zp[bpExtCmdLinePtr:]) != 0 {
		t.Error("cmd_line_ptr")
	}
	cl := make([]byte, len(cmdline)+1)
	mem.ReadAt(cl, CmdlineAddr)
	if string(cl) != cmdline+"\x00" {
		t.Errorf("cmdline in memory %q", cl)
	}
	rd, rdSize := uint64(le.Uint32(zp[offRamdiskImage:])), uint64(le.Uint32(zp[offRamdiskSize:]))
	if rdSize != uint64(len(initrd)) || rd%pageSize != 0 || rd+rdSize > ramSize || rd < 0x1000000+0x800000 {
		t.Errorf("initrd at %#x size %#x", rd, rdSize)
	}
	if ramSize-(rd+rdSize) >= pageSize {
		t.Errorf("initrd at %#x is not as high as RAM allows", rd)
	}
	gotRd := make([]byte, rdSize)
	mem.ReadAt(gotRd, rd)
	if !bytes.Equal(gotRd, initrd) {
		t.Error("initrd bytes differ")
	}
	if le.Uint64(zp[bpAcpiRsdpAddr:]) != RSDPAddr {
		t.Error("acpi_rsdp_addr")
	}
	e820 := decodeE820(zp)
	want := E820ForMemory(mem)
	if len(e820) != len(want) || e820[len(e820)-1] != (E820Entry{HighMemStart, ramSize - HighMemStart, E820RAM}) {
		t.Errorf("e820 %#v, want %#v", e820, want)
	}
}

func TestLoadLinuxRelocatesWhenPrefDoesNotFit(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 16<<20)) // pref 16 MiB + 8 MiB init_size does not fit
	s, err := LoadLinux(mem, defaultFake().build(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.RIP != 0x200000+0x200 {
		t.Fatalf("rip %#x, want 1 MiB aligned up to 2 MiB + 0x200", s.RIP)
	}
	zp := zeroPage(t, mem)
	if binary.LittleEndian.Uint32(zp[offRamdiskImage:]) != 0 || binary.LittleEndian.Uint32(zp[offRamdiskSize:]) != 0 {
		t.Error("ramdisk fields set without an initrd")
	}
}

func TestLoadLinuxInitrdBelowAddrMax(t *testing.T) {
	mem := memory.FromBytes(make([]byte, 64<<20))
	f := defaultFake()
	f.initrdMax = 0x1400000 - 1 // inside the kernel's init_size range [16 MiB, 24 MiB)
	initrd := make([]byte, 3<<20)
	if _, err := LoadLinux(mem, f.build(), initrd, ""); err != nil {
		t.Fatal(err)
	}
	zp := zeroPage(t, mem)
	rd := uint64(binary.LittleEndian.Uint32(zp[offRamdiskImage:]))
	if rd+3<<20 > 0x1000000 || rd < HighMemStart || rd%pageSize != 0 {
		t.Fatalf("initrd at %#x overlaps the kernel or leaves the allowed range", rd)
	}
}

func TestLoadLinuxRefusesBeforeWriting(t *testing.T) {
	// A small kernel (2 MiB load address, 1 MiB init_size) keeps the guest
	// RAM that must stay untouched small.
	small := defaultFake()
	small.pref, small.initSize = 0x200000, 0x100000
	nonReloc := defaultFake()
	nonReloc.relocatable = false
	for _, tc := range []struct {
		name    string
		ram     int
		img     []byte
		initrd  int
		cmdline string
		want    error
	}{
		{"initrd larger than RAM", 8 << 20, small.build(), 8 << 20, "", ErrInitrdTooBig},
		{"initrd fits neither above nor below the kernel", 8 << 20, small.build(), 5<<20 + 1, "", ErrInitrdTooBig},
		{"cmdline longer than cmdline_size", 8 << 20, small.build(), 0, strings.Repeat("a", 2048), ErrCmdlineTooLong},
		{"cmdline with NUL", 8 << 20, small.build(), 0, "a\x00b", ErrCmdlineTooLong},
		{"kernel too big for RAM", 2 << 20, small.build(), 0, "", ErrKernelTooBig},
		{"non-relocatable, pref outside RAM", 8 << 20, nonReloc.build(), 0, "", ErrKernelTooBig},
		{"truncated image", 8 << 20, small.build()[:0x250], 0, "", ErrTruncated},
	} {
		ram := make([]byte, tc.ram)
		_, err := LoadLinux(memory.FromBytes(ram), tc.img, make([]byte, tc.initrd), tc.cmdline)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			continue
		}
		if !bytes.Equal(ram, make([]byte, len(ram))) {
			t.Errorf("%s: guest memory written before refusing", tc.name)
		}
	}
	// The limit is cmdline_size bytes, NUL excluded: 2047 is accepted, and a
	// 5 MiB initrd just fits above the kernel.
	if _, err := LoadLinux(memory.FromBytes(make([]byte, 8<<20)), small.build(), make([]byte, 5<<20), strings.Repeat("a", 2047)); err != nil {
		t.Errorf("cmdline of exactly cmdline_size, initrd filling RAM above the kernel: %v", err)
	}
}

func TestLoadLinuxAboveHole(t *testing.T) {
	// Guest RAM split around the MMIO hole: the kernel and initrd stay below
	// it, and the e820 map reports the RAM at 4 GiB. Only small regions are
	// allocated; the test models the layout, not the size.
	low := make([]byte, 64<<20)
	mem, err := memory.New(memory.Region{GPA: 0, Data: low}, memory.Region{GPA: MMIOHoleEnd, Data: make([]byte, 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLinux(mem, defaultFake().build(), make([]byte, 1<<20), "x"); err != nil {
		t.Fatal(err)
	}
	zp := zeroPage(t, mem)
	rd := uint64(binary.LittleEndian.Uint32(zp[offRamdiskImage:]))
	if rd != 63<<20 {
		t.Errorf("initrd at %#x, want top of low RAM %#x", rd, 63<<20)
	}
	e := decodeE820(zp)
	if last := e[len(e)-1]; last != (E820Entry{MMIOHoleEnd, 1 << 20, E820RAM}) {
		t.Errorf("last e820 entry %#v", last)
	}
}

// realKernel returns a real bzImage from $IRONVISOR_TEST_BZIMAGE, the
// repository's kernel cache (.cache/kernels) or /boot, or skips.
func realKernel(t *testing.T) []byte {
	t.Helper()
	paths := []string{os.Getenv("IRONVISOR_TEST_BZIMAGE")}
	for _, g := range []string{"../../.cache/kernels/*/boot/vmlinuz-*", "/boot/vmlinuz-*"} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			t.Logf("using %s", p)
			return b
		}
	}
	t.Skip("SKIP: no real bzImage (set IRONVISOR_TEST_BZIMAGE or install a kernel in /boot)")
	return nil
}

func TestLoadRealKernel(t *testing.T) {
	img := realKernel(t)
	h, err := ParseSetupHeader(img)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.FromBytes(make([]byte, 256<<20))
	s, err := LoadLinux(mem, img, []byte("070701"), "console=ttyS0")
	if err != nil {
		t.Fatal(err)
	}
	if s.RIP != h.PrefAddress+0x200 {
		t.Errorf("rip %#x, pref_address %#x", s.RIP, h.PrefAddress)
	}
	// The startup_64 code begins at +0x200 of the protected-mode kernel.
	got := make([]byte, 16)
	mem.ReadAt(got, s.RIP)
	if !bytes.Equal(got, img[h.KernelOffset+0x200:h.KernelOffset+0x210]) {
		t.Error("64-bit entry bytes differ from the image")
	}
}
