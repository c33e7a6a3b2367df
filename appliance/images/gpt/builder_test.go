package gpt

import (
	"encoding/binary"
	"hash/crc32"
	"unicode/utf16"
)

// testPart is a partition a test disk holds, at entry index (1-based).
type testPart struct {
	index       int
	typ         GUID
	first, last uint64
	name        string
}

// debianParts is the layout of Debian's and Ubuntu's cloud images scaled
// down: root is entry 1 after the others, BIOS boot is 14, ESP is 15.
var debianParts = []testPart{
	{1, TypeLinuxFilesystem, 300, 1900, "root"},
	{14, TypeBIOSBoot, 34, 99, ""},
	{15, TypeESP, 100, 299, "EFI system partition ü"},
}

// makeDisk returns a disk of sectors sectors of ss bytes with a protective
// MBR, a primary and a backup GPT of 128 entries holding parts.
func makeDisk(ss int, sectors uint64, parts []testPart) []byte {
	disk := make([]byte, uint64(ss)*sectors)
	le := binary.LittleEndian
	p := disk[446:]
	p[4] = 0xEE
	le.PutUint32(p[8:], 1)
	le.PutUint32(p[12:], uint32(sectors-1))
	disk[510], disk[511] = 0x55, 0xAA
	entries := make([]byte, 128*128)
	for _, tp := range parts {
		e := entries[(tp.index-1)*128:]
		copy(e[0:], tp.typ[:])
		e[16] = byte(tp.index) // a unique GUID per entry
		le.PutUint64(e[32:], tp.first)
		le.PutUint64(e[40:], tp.last)
		for i, c := range utf16.Encode([]rune(tp.name)) {
			le.PutUint16(e[56+2*i:], c)
		}
	}
	entrySectors := uint64(len(entries) / ss)
	last := sectors - 1
	writeHeader(disk, ss, 1, last, 2, entries)
	writeHeader(disk, ss, last, 1, last-entrySectors, entries)
	return disk
}

// writeHeader writes a header at lba whose entries are at entriesLBA.
func writeHeader(disk []byte, ss int, lba, alt, entriesLBA uint64, entries []byte) {
	le := binary.LittleEndian
	sectors := uint64(len(disk) / ss)
	entrySectors := uint64(len(entries) / ss)
	copy(disk[entriesLBA*uint64(ss):], entries)
	h := disk[lba*uint64(ss):][:92]
	copy(h, signature)
	le.PutUint32(h[8:], 0x00010000)
	le.PutUint32(h[12:], 92)
	le.PutUint64(h[24:], lba)
	le.PutUint64(h[32:], alt)
	le.PutUint64(h[40:], 2+entrySectors)
	le.PutUint64(h[48:], sectors-2-entrySectors)
	copy(h[56:], []byte("disk-guid-0123456"))
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[80:], uint32(len(entries)/128))
	le.PutUint32(h[84:], 128)
	le.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}
