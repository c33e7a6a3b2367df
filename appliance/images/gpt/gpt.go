// Package gpt reads GUID Partition Tables (UEFI 2.10, section 5.3) from
// disk images, so that the partitions of a cloud image can be found
// without the host kernel ever seeing the image.
//
// Every image is hostile. Read checks the protective MBR, both CRC32s,
// that the header describes itself, and that every partition lies inside
// the usable area without overlapping another; when the primary header or
// its entries are damaged it falls back to the backup at the end of the
// disk, and says so. Entry arrays are bounded, so a lying header cannot
// make Read allocate much. build/disk writes GPT disks; this package only
// reads them.
package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"unicode/utf16"
)

// Errors Read wraps.
var (
	// ErrNoGPT is returned when the disk has no protective MBR or no GPT
	// header at all.
	ErrNoGPT = errors.New("gpt: no GUID partition table")
	// ErrCorrupt is returned when neither header, with its entries, is valid.
	ErrCorrupt = errors.New("gpt: corrupt partition table")
)

// Limits on what a header may ask for.
const (
	signature    = "EFI PART"
	minHeaderLen = 92
	minEntrySize = 128
	maxEntrySize = 4096
	// maxEntriesBytes bounds the entry array (128 entries of 128 bytes is
	// the usual 16 KiB).
	maxEntriesBytes = 1 << 20
)

// Partition is one used entry of the table.
type Partition struct {
	// Index is the entry's 1-based position in the array, as Linux numbers
	// partitions (sda1 is entry 1).
	Index      int
	Type       GUID
	Unique     GUID
	FirstLBA   uint64 // first sector, inclusive
	LastLBA    uint64 // last sector, inclusive
	Attributes uint64
	Name       string
}

// Table is a disk's partition table.
type Table struct {
	// SectorSize is the logical block size the table was found with, 512
	// or 4096.
	SectorSize int
	DiskGUID   GUID
	// FirstUsable and LastUsable bound where partitions may lie.
	FirstUsable, LastUsable uint64
	// Partitions are the used entries, in entry order.
	Partitions []Partition
	// FromBackup is true when the primary header or entries were invalid
	// and the backup at the end of the disk was used; PrimaryErr says why.
	FromBackup bool
	PrimaryErr error
}

// Offset returns the byte offset of p's first sector on a disk with
// sectorSize-byte sectors.
func (p Partition) Offset(sectorSize int) int64 {
	return int64(p.FirstLBA) * int64(sectorSize)
}

// Size returns p's length in bytes on a disk with sectorSize-byte sectors.
func (p Partition) Size(sectorSize int) int64 {
	return int64(p.LastLBA-p.FirstLBA+1) * int64(sectorSize)
}

// Open returns a reader of partition p of the disk r.
func (t *Table) Open(r io.ReaderAt, p Partition) *io.SectionReader {
	return io.NewSectionReader(r, p.Offset(t.SectorSize), p.Size(t.SectorSize))
}

// Read reads the partition table of the disk r, size bytes long. It tries
// the primary header at LBA 1 with 512-byte then 4096-byte sectors, then
// the backup header at the last LBA the same way, and returns the first
// that is valid with its entries.
func Read(r io.ReaderAt, size int64) (*Table, error) {
	if err := checkProtectiveMBR(r); err != nil {
		return nil, err
	}
	var primaryErr, backupErr error
	for _, backup := range []bool{false, true} {
		for _, ss := range []int{512, 4096} {
			sectors := uint64(max(size, 0)) / uint64(ss)
			if sectors < 3 {
				continue
			}
			lba := uint64(1)
			if backup {
				lba = sectors - 1
			}
			t, err := readHeader(r, ss, lba, sectors)
			if err == nil {
				t.FromBackup, t.PrimaryErr = backup, primaryErr
				return t, nil
			}
			switch {
			case !backup && (primaryErr == nil || errors.Is(primaryErr, ErrNoGPT)):
				primaryErr = err
			case backup && (backupErr == nil || errors.Is(backupErr, ErrNoGPT)):
				backupErr = err
			}
		}
	}
	if primaryErr == nil {
		return nil, fmt.Errorf("%w: disk of %d bytes is too small", ErrNoGPT, size)
	}
	if errors.Is(primaryErr, ErrNoGPT) && errors.Is(backupErr, ErrNoGPT) {
		return nil, primaryErr
	}
	return nil, fmt.Errorf("%w: primary: %v; backup: %v", ErrCorrupt, primaryErr, backupErr)
}

// checkProtectiveMBR requires the MBR signature and a partition of type
// 0xEE (UEFI 2.10, section 5.2.3); a hybrid MBR has other entries too.
func checkProtectiveMBR(r io.ReaderAt) error {
	var mbr [512]byte
	if _, err := r.ReadAt(mbr[:], 0); err != nil {
		return fmt.Errorf("%w: read MBR: %v", ErrNoGPT, err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return fmt.Errorf("%w: no MBR signature", ErrNoGPT)
	}
	for i := range 4 {
		if mbr[446+16*i+4] == 0xEE {
			return nil
		}
	}
	return fmt.Errorf("%w: MBR has no protective (0xEE) partition", ErrNoGPT)
}

// header is the GPT header, little-endian.
//
// This mirrors the GPT header of UEFI 2.10 table 5.5 (gpt_header in the
// kernel's block/partitions/efi.h).
type header struct {
	Signature      [8]byte // 0
	Revision       uint32  // 8
	HeaderSize     uint32  // 12
	HeaderCRC32    uint32  // 16
	Reserved       uint32  // 20
	MyLBA          uint64  // 24
	AlternateLBA   uint64  // 32
	FirstUsableLBA uint64  // 40
	LastUsableLBA  uint64  // 48
	DiskGUID       GUID    // 56
	EntriesLBA     uint64  // 72
	NumEntries     uint32  // 80
	EntrySize      uint32  // 84
	EntriesCRC32   uint32  // 88
}

// parseHeader decodes and checks the header in sector s, which was read
// from LBA lba of a disk of sectors sectors.
func parseHeader(s []byte, lba, sectors uint64) (header, error) {
	var h header
	le := binary.LittleEndian
	copy(h.Signature[:], s)
	if string(h.Signature[:]) != signature {
		return h, fmt.Errorf("%w: no signature at LBA %d", ErrNoGPT, lba)
	}
	h.Revision, h.HeaderSize, h.HeaderCRC32 = le.Uint32(s[8:]), le.Uint32(s[12:]), le.Uint32(s[16:])
	h.MyLBA, h.AlternateLBA = le.Uint64(s[24:]), le.Uint64(s[32:])
	h.FirstUsableLBA, h.LastUsableLBA = le.Uint64(s[40:]), le.Uint64(s[48:])
	copy(h.DiskGUID[:], s[56:72])
	h.EntriesLBA, h.NumEntries, h.EntrySize, h.EntriesCRC32 = le.Uint64(s[72:]), le.Uint32(s[80:]), le.Uint32(s[84:]), le.Uint32(s[88:])
	if h.HeaderSize < minHeaderLen || int(h.HeaderSize) > len(s) {
		return h, fmt.Errorf("header size %d outside [%d, %d]", h.HeaderSize, minHeaderLen, len(s))
	}
	c := slices.Clone(s[:h.HeaderSize])
	clear(c[16:20])
	if got := crc32.ChecksumIEEE(c); got != h.HeaderCRC32 {
		return h, fmt.Errorf("header at LBA %d: CRC32 %#08x, header says %#08x", lba, got, h.HeaderCRC32)
	}
	switch {
	case h.MyLBA != lba:
		return h, fmt.Errorf("header at LBA %d says it is at LBA %d", lba, h.MyLBA)
	case h.FirstUsableLBA > h.LastUsableLBA || h.LastUsableLBA >= sectors:
		return h, fmt.Errorf("usable LBAs [%d, %d] outside the disk's %d sectors", h.FirstUsableLBA, h.LastUsableLBA, sectors)
	case h.EntrySize < minEntrySize || h.EntrySize > maxEntrySize || h.EntrySize&(h.EntrySize-1) != 0:
		return h, fmt.Errorf("entry size %d is not a power of two in [%d, %d]", h.EntrySize, minEntrySize, maxEntrySize)
	case uint64(h.NumEntries)*uint64(h.EntrySize) > maxEntriesBytes:
		return h, fmt.Errorf("%d entries of %d bytes exceed %d bytes", h.NumEntries, h.EntrySize, maxEntriesBytes)
	}
	return h, nil
}

// readHeader reads and checks the header at lba and its entry array.
func readHeader(r io.ReaderAt, ss int, lba, sectors uint64) (*Table, error) {
	s := make([]byte, ss)
	if _, err := r.ReadAt(s, int64(lba)*int64(ss)); err != nil {
		return nil, fmt.Errorf("read LBA %d: %w", lba, err)
	}
	h, err := parseHeader(s, lba, sectors)
	if err != nil {
		return nil, err
	}
	n := uint64(h.NumEntries) * uint64(h.EntrySize)
	nSectors := (n + uint64(ss) - 1) / uint64(ss)
	if h.EntriesLBA < 2 || h.EntriesLBA >= sectors || nSectors > sectors-h.EntriesLBA {
		return nil, fmt.Errorf("entries at LBA %d (%d sectors) outside the disk's %d sectors", h.EntriesLBA, nSectors, sectors)
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, int64(h.EntriesLBA)*int64(ss)); err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	if got := crc32.ChecksumIEEE(raw); got != h.EntriesCRC32 {
		return nil, fmt.Errorf("entries: CRC32 %#08x, header says %#08x", got, h.EntriesCRC32)
	}
	t := &Table{SectorSize: ss, DiskGUID: h.DiskGUID, FirstUsable: h.FirstUsableLBA, LastUsable: h.LastUsableLBA}
	for i := range h.NumEntries {
		p, used := parseEntry(raw[uint64(i)*uint64(h.EntrySize):][:h.EntrySize], int(i)+1)
		if !used {
			continue
		}
		if p.FirstLBA > p.LastLBA || p.FirstLBA < h.FirstUsableLBA || p.LastLBA > h.LastUsableLBA {
			return nil, fmt.Errorf("partition %d [%d, %d] outside the usable LBAs [%d, %d]", p.Index, p.FirstLBA, p.LastLBA, h.FirstUsableLBA, h.LastUsableLBA)
		}
		t.Partitions = append(t.Partitions, p)
	}
	return t, checkOverlaps(t.Partitions)
}

// parseEntry decodes one partition entry (UEFI 2.10 table 5.6); used is
// false for an entry whose type GUID is zero.
func parseEntry(e []byte, index int) (p Partition, used bool) {
	le := binary.LittleEndian
	copy(p.Type[:], e[0:16])
	if p.Type.IsZero() {
		return p, false
	}
	copy(p.Unique[:], e[16:32])
	p.Index = index
	p.FirstLBA, p.LastLBA, p.Attributes = le.Uint64(e[32:]), le.Uint64(e[40:]), le.Uint64(e[48:])
	name := make([]uint16, 0, 36)
	for i := 56; i+1 < min(len(e), 128); i += 2 {
		c := le.Uint16(e[i:])
		if c == 0 {
			break
		}
		name = append(name, c)
	}
	p.Name = string(utf16.Decode(name))
	return p, true
}

// checkOverlaps refuses partitions that share a sector.
func checkOverlaps(ps []Partition) error {
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b Partition) int {
		switch {
		case a.FirstLBA < b.FirstLBA:
			return -1
		case a.FirstLBA > b.FirstLBA:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i].FirstLBA <= s[i-1].LastLBA {
			return fmt.Errorf("partitions %d and %d overlap", s[i-1].Index, s[i].Index)
		}
	}
	return nil
}

// Find returns the first partition of type typ, in entry order.
func (t *Table) Find(typ GUID) (Partition, bool) {
	for _, p := range t.Partitions {
		if p.Type == typ {
			return p, true
		}
	}
	return Partition{}, false
}
