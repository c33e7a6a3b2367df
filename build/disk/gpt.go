package disk

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"unicode/utf16"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// GPT layout constants (UEFI 2.10, section 5.3: GUID Partition Table).
const (
	sectorSize     = 512
	entrySize      = 128
	entryCount     = 128
	entriesSectors = entryCount * entrySize / sectorSize // 32
	firstPartLBA   = 2048                                // 1 MiB alignment
	// dataSectors is the size of the blank data partition the image
	// carries (8 MiB): the appliance grows it to fill the disk and makes
	// its file system on first boot.
	dataSectors = 8 << 20 / sectorSize
)

// espType is the EFI System Partition type GUID
// C12A7328-F81F-11D2-BA4B-00A0C93EC93B in its on-disk (mixed-endian) form.
var espType = guidBytes(0xC12A7328, 0xF81F, 0x11D2, [8]byte{0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B})

// guidBytes encodes a GUID as EFI_GUID: the first three fields little-endian.
func guidBytes(a uint32, b, c uint16, d [8]byte) [16]byte {
	var g [16]byte
	binary.LittleEndian.PutUint32(g[0:], a)
	binary.LittleEndian.PutUint16(g[4:], b)
	binary.LittleEndian.PutUint16(g[6:], c)
	copy(g[8:], d[:])
	return g
}

// stableGUID derives a version-4-shaped GUID from seed, so identical inputs
// give an identical disk image.
func stableGUID(seed string) [16]byte {
	h := sha256.Sum256([]byte(seed))
	var g [16]byte
	copy(g[:], h[:16])
	g[7] = g[7]&0x0f | 0x40 // version 4 (stored little-endian in field 3)
	g[8] = g[8]&0x3f | 0x80 // variant 10
	return g
}

// linuxFSType is the Linux filesystem data partition type GUID
// 0FC63DAF-8483-4772-8E79-3D69D8477DE4 in its on-disk form.
var linuxFSType = guidBytes(0x0FC63DAF, 0x8483, 0x4772, [8]byte{0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4})

// WriteGPTDisk writes a disk image to out holding two partitions: an EFI
// system partition whose contents are the file esp (a FAT image), starting
// at 1 MiB, then, 1 MiB-aligned after it, the appliance's data partition
// (type gpt.TypeIronvisorData, named gpt.DataPartitionName), 8 MiB of
// zeros. The appliance finds the data partition by its type and name,
// grows it to the end of the disk it was flashed onto and makes its file
// system there on first boot, because it is blank.
func WriteGPTDisk(out, esp string) error {
	return writeGPT(out, esp, espType, "EFI system partition", "ironvisor-esp:", "ironvisor-disk:", true)
}

// WriteLinuxGPTDisk writes a disk image to out holding one Linux filesystem
// partition, named name, whose contents are the file fs (an ext4 image, for
// example), starting at 1 MiB. Zero blocks of fs stay holes in out.
func WriteLinuxGPTDisk(out, fs, name string) error {
	return writeGPT(out, fs, linuxFSType, name, "ironvisor-linux-part:", "ironvisor-linux-disk:", false)
}

// writeGPT writes a GPT disk with the file part as its first partition, of
// type typ, and with withData the appliance's blank data partition after
// it; the seeds make the partition and disk GUIDs stable for identical
// inputs.
func writeGPT(out, part string, typ [16]byte, name, partSeed, diskSeed string, withData bool) error {
	st, err := os.Stat(part)
	if err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	partSectors := uint64(st.Size()+sectorSize-1) / sectorSize
	lastPart := firstPartLBA + partSectors - 1
	end := lastPart
	entries := make([]byte, entriesSectors*sectorSize)
	writeEntry(entries[:entrySize], typ, stableGUID(partSeed+fmt.Sprint(st.Size())), firstPartLBA, lastPart, name)
	if withData {
		dataFirst := (lastPart + firstPartLBA) / firstPartLBA * firstPartLBA
		end = dataFirst + dataSectors - 1
		writeEntry(entries[entrySize:2*entrySize], gpt.TypeIronvisorData, stableGUID("ironvisor-data:"+fmt.Sprint(st.Size())),
			dataFirst, end, gpt.DataPartitionName)
	}
	total := end + 1 + entriesSectors + 1 // backup entries and header
	head := make([]byte, (2+entriesSectors)*sectorSize)
	writeProtectiveMBR(head[:sectorSize], total)
	disk := stableGUID(diskSeed + fmt.Sprint(st.Size()))
	h := gptHeader{current: 1, backup: total - 1, entries: 2, first: firstPartLBA, last: total - entriesSectors - 2,
		disk: disk, entriesCRC: crc32.ChecksumIEEE(entries)}
	copy(head[sectorSize:], h.bytes())
	copy(head[2*sectorSize:], entries)
	b := h
	b.current, b.backup, b.entries = total-1, 1, total-1-entriesSectors
	tail := append(append([]byte(nil), entries...), b.bytes()...)
	return writeDisk(out, head, part, tail, (total-1-entriesSectors)*sectorSize)
}

// writeEntry fills the partition entry e (UEFI 2.10 table 5.6).
func writeEntry(e []byte, typ, unique [16]byte, first, last uint64, name string) {
	copy(e[0:16], typ[:])
	copy(e[16:32], unique[:])
	binary.LittleEndian.PutUint64(e[32:], first)
	binary.LittleEndian.PutUint64(e[40:], last)
	for i, r := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(e[56+2*i:], r)
	}
}

// writeDisk writes head at offset 0, the file part at firstPartLBA
// (skipping its all-zero blocks, which stay holes) and tail at tailOff.
func writeDisk(out string, head []byte, part string, tail []byte, tailOff uint64) error {
	src, err := os.Open(part)
	if err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	if err := f.Truncate(int64(tailOff) + int64(len(tail))); err != nil {
		f.Close()
		return fmt.Errorf("gpt: %w", err)
	}
	if _, err := f.WriteAt(head, 0); err != nil {
		f.Close()
		return fmt.Errorf("gpt: %w", err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(firstPartLBA * sectorSize); ; {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				f.Close()
				return fmt.Errorf("gpt: %w", err)
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("gpt: read partition: %w", rerr)
		}
	}
	if _, err := f.WriteAt(tail, int64(tailOff)); err != nil {
		f.Close()
		return fmt.Errorf("gpt: %w", err)
	}
	return f.Close()
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writeProtectiveMBR fills the first sector with a protective MBR: one
// partition of type 0xEE covering the disk (UEFI 2.10, section 5.2.3).
func writeProtectiveMBR(s []byte, totalSectors uint64) {
	p := s[446:462]
	p[1], p[2], p[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	p[4] = 0xEE
	p[5], p[6], p[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(p[8:], 1)
	size := totalSectors - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(p[12:], uint32(size))
	s[510], s[511] = 0x55, 0xAA
}

// gptHeader is the GPT header (UEFI 2.10, table 5.5).
type gptHeader struct {
	current, backup, entries, first, last uint64
	disk                                  [16]byte
	entriesCRC                            uint32
}

// bytes encodes the header into one sector with its CRC32.
func (h gptHeader) bytes() []byte {
	s := make([]byte, sectorSize)
	copy(s[0:8], "EFI PART")
	binary.LittleEndian.PutUint32(s[8:], 0x00010000) // revision 1.0
	binary.LittleEndian.PutUint32(s[12:], 92)        // header size
	binary.LittleEndian.PutUint64(s[24:], h.current)
	binary.LittleEndian.PutUint64(s[32:], h.backup)
	binary.LittleEndian.PutUint64(s[40:], h.first)
	binary.LittleEndian.PutUint64(s[48:], h.last)
	copy(s[56:72], h.disk[:])
	binary.LittleEndian.PutUint64(s[72:], h.entries)
	binary.LittleEndian.PutUint32(s[80:], entryCount)
	binary.LittleEndian.PutUint32(s[84:], entrySize)
	binary.LittleEndian.PutUint32(s[88:], h.entriesCRC)
	binary.LittleEndian.PutUint32(s[16:], crc32.ChecksumIEEE(s[:92]))
	return s
}
