package acpi_test

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/acpi"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// pvhFirmware returns a 64 KiB BIOS image that does what the VMM does for a
// PVH entry state: load the boot GDT, set CR0.PE, far jump to the flat
// 32-bit code selector, load the data selectors, EBX = hvm_start_info,
// jump to the PHYS32 entry point.
func pvhFirmware(entry uint32) []byte {
	const base = 0xffff0000
	bios := bytes.Repeat([]byte{0xf4}, 0x10000)
	le := binary.LittleEndian
	code16 := []byte{
		0xfa,                                     // cli
		0x66, 0x2e, 0x0f, 0x01, 0x16, 0x00, 0xf1, // o32 lgdt cs:[0xf100]
		0x66, 0xb8, 0x11, 0x00, 0x00, 0x00, // mov eax, ET|PE
		0x0f, 0x22, 0xc0, // mov cr0, eax
		0x66, 0xea, 0, 0, 0, 0, boot.SelectorCode, 0x00, // jmp far 0x10:code32 (patched)
	}
	le.PutUint32(code16[len(code16)-6:], base+0xf200)
	copy(bios[0xf000:], code16)
	gdtr := le.AppendUint16(nil, 5*8-1)
	copy(bios[0xf100:], le.AppendUint32(gdtr, boot.GDTAddr))
	code32 := []byte{
		0x66, 0xb8, boot.SelectorData, 0x00, // mov ax, data selector
		0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x8e, 0xe0, 0x8e, 0xe8, // mov ds/es/ss/fs/gs, ax
		0xbb, 0, 0, 0, 0, // mov ebx, start_info (patched)
		0xbc, 0, 0, 0, 0, // mov esp, boot stack (patched)
		0xb8, 0, 0, 0, 0, // mov eax, entry (patched)
		0xff, 0xe0, // jmp eax
	}
	le.PutUint32(code32[15:], boot.ZeroPage)
	le.PutUint32(code32[20:], boot.BootStack)
	le.PutUint32(code32[25:], entry)
	copy(bios[0xf200:], code32)
	copy(bios[0xfff0:], []byte{0xe9, 0x0d, 0xf0}) // reset vector: jmp near 0xf000
	return bios
}

// vmlinuxFromBzImage returns the ELF vmlinux a bzImage carries as its
// compressed payload (boot.rst: payload_offset/payload_length), or skips
// when the compression has no decompressor here.
func vmlinuxFromBzImage(t *testing.T, bz []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	pm := (int(bz[0x1f1]) + 1) * 512
	off, n := pm+int(le.Uint32(bz[0x248:])), int(le.Uint32(bz[0x24c:]))
	if off+n > len(bz) {
		t.Fatalf("payload [%#x, +%#x) past the image", off, n)
	}
	p := bz[off : off+n]
	var out []byte
	switch {
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		out, _ = io.ReadAll(r) // the kernel appends the size after the stream
	default:
		tools := map[string][]string{"\x02\x21\x4c\x18": {"lz4", "-dc"}, "\xfd7zXZ": {"xz", "-dc"}, "\x28\xb5\x2f\xfd": {"zstd", "-dc"}}
		var cmd []string
		for magic, c := range tools {
			if bytes.HasPrefix(p, []byte(magic)) {
				cmd = c
			}
		}
		if cmd == nil {
			t.Skipf("SKIP: kernel payload compression % x not supported by this test", p[:4])
		}
		if _, err := exec.LookPath(cmd[0]); err != nil {
			t.Skipf("SKIP: %s not installed", cmd[0])
		}
		c := exec.Command(cmd[0], cmd[1:]...)
		c.Stdin = bytes.NewReader(p)
		out, _ = c.Output() // trailing size bytes make some tools exit non-zero
	}
	if !bytes.HasPrefix(out, []byte("\x7fELF")) {
		t.Fatalf("decompressed payload (%d bytes) is not an ELF", len(out))
	}
	return out
}

// pvhImages loads vmlinux through boot.LoadPVH, builds the ACPI tables and
// returns QEMU loader arguments for every range written, and the entry.
func pvhImages(t *testing.T, dir string, vmlinux, initrd []byte, cpus int) ([]string, uint32) {
	t.Helper()
	ram := make([]byte, guestRAM)
	mem := memory.FromBytes(ram)
	entry, err := boot.LoadPVH(mem, vmlinux, initrd, "console=ttyS0 panic=-1 tsc_early_khz=2000000")
	if err != nil {
		t.Fatal(err)
	}
	if err := acpi.Build(mem, acpi.Config{CPUs: cpus}); err != nil {
		t.Fatal(err)
	}
	// Cross-check the loader against debug/elf: the segments' span.
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := ^uint64(0), uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			lo, hi = min(lo, p.Paddr), max(hi, p.Paddr+p.Memsz)
			seg := make([]byte, p.Filesz)
			p.ReadAt(seg, 0)
			if !bytes.Equal(ram[p.Paddr:p.Paddr+p.Filesz], seg) {
				t.Fatalf("segment at %#x differs from debug/elf's reading", p.Paddr)
			}
		}
	}
	le := binary.LittleEndian
	mod := le.Uint64(ram[boot.ZeroPage+16:])
	rd, rdSize := le.Uint64(ram[mod:]), le.Uint64(ram[mod+8:])
	var args []string
	for i, r := range []boot.Range{
		{Start: 0, End: boot.ACPIEnd},
		{Start: boot.RSDPAddr, End: boot.RSDPAddr + 36},
		{Start: lo, End: hi},
		{Start: rd, End: rd + rdSize},
	} {
		p := filepath.Join(dir, "pvh"+string(rune('0'+i)))
		if err := os.WriteFile(p, ram[r.Start:r.End], 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-device", "loader,file="+p+",addr="+hex(r.Start)+",force-raw=on")
	}
	return args, uint32(entry.RIP)
}

func TestQEMUBootsDebianVmlinuxThroughPVH(t *testing.T) {
	qemu, kpath, busybox := guestPrereqs(t)
	bz, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	loaders, entry := pvhImages(t, dir, vmlinuxFromBzImage(t, bz), testInitrd(t, busybox), 2)
	t.Logf("vmlinux from %s, PVH entry %#x", kpath, entry)
	runGuest(t, qemu, dir, pvhFirmware(entry), loaders, 0)
}
