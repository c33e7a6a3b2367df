// Package imagetest builds small disk images for the tests and fuzz
// targets of the image readers: GPT disks written by hand, and ext4 file
// systems made by mke2fs -d from a directory tree.
package imagetest

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

// Part is a partition a test disk holds.
type Part struct {
	// Index is the 1-based entry number.
	Index int
	// Type is the type GUID in its on-disk form (gpt.GUID converts).
	Type        [16]byte
	First, Last uint64 // LBAs, inclusive
	Name        string
	// Data, if set, is copied to the partition's first sector.
	Data []byte
}

// GPTDisk returns a disk of sectors sectors of ss bytes with a protective
// MBR and a primary and a backup GPT of 128 entries holding parts (UEFI
// 2.10, section 5.3).
func GPTDisk(ss int, sectors uint64, parts []Part) []byte {
	disk := make([]byte, uint64(ss)*sectors)
	le := binary.LittleEndian
	p := disk[446:]
	p[4] = 0xEE
	le.PutUint32(p[8:], 1)
	le.PutUint32(p[12:], uint32(sectors-1))
	disk[510], disk[511] = 0x55, 0xAA
	entries := make([]byte, 128*128)
	for _, tp := range parts {
		e := entries[(tp.Index-1)*128:]
		copy(e[0:], tp.Type[:])
		e[16] = byte(tp.Index) // a unique GUID per entry
		le.PutUint64(e[32:], tp.First)
		le.PutUint64(e[40:], tp.Last)
		for i, c := range utf16.Encode([]rune(tp.Name)) {
			le.PutUint16(e[56+2*i:], c)
		}
		copy(disk[tp.First*uint64(ss):(tp.Last+1)*uint64(ss)], tp.Data)
	}
	entrySectors := uint64(len(entries) / ss)
	last := sectors - 1
	writeHeader(disk, ss, 1, last, 2, entries)
	writeHeader(disk, ss, last, 1, last-entrySectors, entries)
	return disk
}

// writeHeader writes a GPT header at lba whose entries are at entriesLBA.
func writeHeader(disk []byte, ss int, lba, alt, entriesLBA uint64, entries []byte) {
	le := binary.LittleEndian
	sectors := uint64(len(disk) / ss)
	entrySectors := uint64(len(entries) / ss)
	copy(disk[entriesLBA*uint64(ss):], entries)
	h := disk[lba*uint64(ss):][:92]
	copy(h, "EFI PART")
	le.PutUint32(h[8:], 0x00010000)
	le.PutUint32(h[12:], 92)
	le.PutUint64(h[24:], lba)
	le.PutUint64(h[32:], alt)
	le.PutUint64(h[40:], 2+entrySectors)
	le.PutUint64(h[48:], sectors-2-entrySectors)
	copy(h[56:], "disk-guid-0123456")
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[80:], uint32(len(entries)/128))
	le.PutUint32(h[84:], 128)
	le.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}

// Entry is a file, directory or symlink of a tree Mkfs writes.
type Entry struct {
	Path    string // relative, slash-separated
	Data    string // file contents
	Symlink string // if set, a symlink to this target
	Dir     bool
}

// Mkfs writes entries to a temporary tree and returns an ext4 image of
// size (mke2fs syntax: "192K", "16M") made from it with mke2fs -d and
// opts. It skips the test when mke2fs is not installed.
func Mkfs(tb testing.TB, size string, entries []Entry, opts ...string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("mke2fs"); err != nil {
		tb.Skip("SKIP: mke2fs not installed (e2fsprogs)")
	}
	dir := tb.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, e := range entries {
		p := filepath.Join(tree, filepath.FromSlash(e.Path))
		must(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case e.Dir:
			must(tb, os.MkdirAll(p, 0o755))
		case e.Symlink != "":
			must(tb, os.Symlink(e.Symlink, p))
		default:
			must(tb, os.WriteFile(p, []byte(e.Data), 0o644))
		}
	}
	must(tb, os.MkdirAll(tree, 0o755))
	img := filepath.Join(dir, "fs.img")
	args := append(append([]string{"-q", "-F", "-d", tree}, opts...), img, size)
	if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
		tb.Fatalf("mke2fs %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(img)
	must(tb, err)
	return b
}

// must fails tb on err.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
