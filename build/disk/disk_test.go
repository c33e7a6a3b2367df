package disk

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

func TestLayoutSectionsAfterStubPageAligned(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, make([]byte, 10), 0o644)
	os.WriteFile(b, make([]byte, 5000), 0o644)
	secs, err := layoutSections(0x100000, 0x19300, []section{{name: ".cmdline", file: a}, {name: ".linux", file: b}})
	if err != nil {
		t.Fatal(err)
	}
	if secs[0].vma != 0x100000+0x1a000 || secs[1].vma != 0x100000+0x1b000 {
		t.Errorf("vmas = %#x, %#x; want %#x, %#x", secs[0].vma, secs[1].vma, 0x11a000, 0x11b000)
	}
}

// checkHeader verifies a GPT header sector and returns its fields.
func checkHeader(t *testing.T, s []byte) (current, backup, entriesLBA uint64, entriesCRC uint32) {
	t.Helper()
	if string(s[:8]) != "EFI PART" {
		t.Fatalf("bad signature %q", s[:8])
	}
	hdr := append([]byte(nil), s[:92]...)
	want := binary.LittleEndian.Uint32(hdr[16:])
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	if got := crc32.ChecksumIEEE(hdr); got != want {
		t.Errorf("header CRC %#x, stored %#x", got, want)
	}
	le := binary.LittleEndian
	return le.Uint64(s[24:]), le.Uint64(s[32:]), le.Uint64(s[72:]), le.Uint32(s[88:])
}

func TestWriteGPTDisk(t *testing.T) {
	dir := t.TempDir()
	esp := filepath.Join(dir, "esp")
	content := bytes.Repeat([]byte("FAT!"), 3000) // 12000 bytes: 24 sectors (rounded up)
	os.WriteFile(esp, content, 0o644)
	out := filepath.Join(dir, "disk")
	if err := WriteGPTDisk(out, esp); err != nil {
		t.Fatal(err)
	}
	img, _ := os.ReadFile(out)
	total := uint64(len(img) / sectorSize)
	if img[510] != 0x55 || img[511] != 0xAA || img[446+4] != 0xEE {
		t.Error("no protective MBR")
	}
	cur, backup, elba, ecrc := checkHeader(t, img[sectorSize:2*sectorSize])
	if cur != 1 || backup != total-1 || elba != 2 {
		t.Errorf("primary header: current %d backup %d entries %d (disk %d sectors)", cur, backup, elba, total)
	}
	entries := img[elba*sectorSize : (elba+entriesSectors)*sectorSize]
	if crc32.ChecksumIEEE(entries) != ecrc {
		t.Error("entries CRC mismatch")
	}
	if !bytes.Equal(entries[:16], espType[:]) {
		t.Errorf("partition type %x, want the ESP GUID", entries[:16])
	}
	first, last := binary.LittleEndian.Uint64(entries[32:]), binary.LittleEndian.Uint64(entries[40:])
	if first != firstPartLBA || last != firstPartLBA+23 {
		t.Errorf("partition LBAs %d-%d, want %d-%d", first, last, firstPartLBA, firstPartLBA+23)
	}
	if !bytes.Equal(img[first*sectorSize:first*sectorSize+uint64(len(content))], content) {
		t.Error("partition does not hold the ESP contents")
	}
	tab, err := gpt.Read(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	data, ok := tab.Find(gpt.TypeIronvisorData)
	if !ok || data.Name != gpt.DataPartitionName || data.FirstLBA%firstPartLBA != 0 || data.FirstLBA <= last ||
		data.Size(sectorSize) != 8<<20 || data.LastLBA != tab.LastUsable {
		t.Errorf("data partition %+v (ok %v), want 8 MiB named %s, aligned, after the ESP, last", data, ok, gpt.DataPartitionName)
	}
	if !bytes.Equal(img[data.Offset(sectorSize):data.Offset(sectorSize)+data.Size(sectorSize)], make([]byte, 8<<20)) {
		t.Error("the data partition is not blank")
	}
	bcur, bback, belba, becrc := checkHeader(t, img[(total-1)*sectorSize:])
	if bcur != total-1 || bback != 1 || becrc != ecrc || !bytes.Equal(img[belba*sectorSize:(belba+entriesSectors)*sectorSize], entries) {
		t.Errorf("backup header: current %d backup %d entries at %d", bcur, bback, belba)
	}
	again := filepath.Join(dir, "disk2")
	WriteGPTDisk(again, esp)
	img2, _ := os.ReadFile(again)
	if !bytes.Equal(img, img2) {
		t.Error("two builds from the same ESP differ")
	}
}

func TestBuildUKISections(t *testing.T) {
	if _, err := os.Stat(DefaultStub); err != nil {
		t.Skipf("SKIP: %v (apt-get install systemd-boot-efi, or run make test)", err)
	}
	if _, err := exec.LookPath("objcopy"); err != nil {
		t.Skipf("SKIP: objcopy not installed (binutils): %v", err)
	}
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd")
	os.WriteFile(kernel, bytes.Repeat([]byte{0x90}, 10000), 0o644)
	os.WriteFile(initrd, []byte("070701initrd"), 0o644)
	out := filepath.Join(dir, "uki.efi")
	if err := BuildUKI(context.Background(), out, UKIOptions{Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 x=y"}); err != nil {
		t.Fatal(err)
	}
	f, err := pe.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, stubSize, err := stubGeometry(DefaultStub)
	if err != nil {
		t.Fatal(err)
	}
	prevEnd := uint32(stubSize)
	for _, name := range []string{".osrel", ".cmdline", ".linux", ".initrd"} {
		s := f.Section(name)
		if s == nil {
			t.Fatalf("UKI lacks %s", name)
		}
		if s.VirtualAddress%pageSize != 0 || s.VirtualAddress < prevEnd {
			t.Errorf("%s at %#x: want page-aligned after %#x", name, s.VirtualAddress, prevEnd)
		}
		prevEnd = s.VirtualAddress + s.VirtualSize
	}
	data, _ := f.Section(".cmdline").Data()
	if !bytes.HasPrefix(data, []byte("console=ttyS0 x=y\x00")) {
		t.Errorf(".cmdline = %q", data)
	}
}

// TestWriteLinuxGPTDisk: a Linux filesystem partition holds the file's
// bytes at 1 MiB, its zero blocks stay holes, and the GPT names it.
func TestWriteLinuxGPTDisk(t *testing.T) {
	dir := t.TempDir()
	fs := filepath.Join(dir, "root.ext4")
	content := make([]byte, 4<<20)
	copy(content, "SUPERBLOCK")
	copy(content[3<<20:], "LATE DATA")
	os.WriteFile(fs, content, 0o644)
	out := filepath.Join(dir, "disk")
	if err := WriteLinuxGPTDisk(out, fs, "root"); err != nil {
		t.Fatal(err)
	}
	img, _ := os.ReadFile(out)
	_, _, elba, ecrc := checkHeader(t, img[sectorSize:2*sectorSize])
	entries := img[elba*sectorSize : (elba+entriesSectors)*sectorSize]
	if crc32.ChecksumIEEE(entries) != ecrc || !bytes.Equal(entries[:16], linuxFSType[:]) {
		t.Errorf("partition type %x or entries CRC wrong", entries[:16])
	}
	if name := string(entries[56:64]); name != "r\x00o\x00o\x00t\x00" {
		t.Errorf("partition name %q", name)
	}
	if !bytes.Equal(img[firstPartLBA*sectorSize:][:len(content)], content) {
		t.Error("partition does not hold the file")
	}
	total := uint64(len(img) / sectorSize)
	if bcur, _, _, becrc := checkHeader(t, img[(total-1)*sectorSize:]); bcur != total-1 || becrc != ecrc {
		t.Error("backup header wrong")
	}
}
