package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// TypeIronvisorData is the partition type of the appliance's own data
// partition, which a flashed disk image carries (build/disk) and which
// the appliance formats on first boot only while it is blank. It is
// Ironvisor's own, chosen at random once; it never changes.
var TypeIronvisorData = MustParseGUID("3804F1A1-ADEF-4149-8D17-3154B424BFA5")

// DataPartitionName is the partition name (and file system label) of the
// appliance's data partition.
const DataPartitionName = "ivdata"

// ErrNotLast is returned by Grow when the partition is not the last one
// on the disk, so growing it would run into another.
var ErrNotLast = errors.New("gpt: partition is not the last on the disk")

// ReadWriterAt is a disk Grow rewrites.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// Grow makes the table of the disk d (size bytes, larger than when the
// table was written) cover the whole disk, and extends partition index
// (1-based, as Partition.Index) to the new last usable sector. It returns
// the partition after growing, and whether anything changed: a table
// that already ends at the disk's end is left alone.
//
// The primary header must be valid. The backup entries and header are
// written first at the disk's new end, then the primary entries and
// header (UEFI 2.10, section 5.3.2 asks for this order), then the
// protective MBR's size, and last the stale backup header at the old end
// is zeroed; a power cut in between leaves a primary table that Read
// accepts, and Grow can run again.
func Grow(d ReadWriterAt, size int64, index int) (Partition, bool, error) {
	t, err := Read(d, size)
	if err != nil {
		return Partition{}, false, err
	}
	if t.FromBackup {
		return Partition{}, false, fmt.Errorf("%w: primary header invalid (%v); not rewriting it", ErrCorrupt, t.PrimaryErr)
	}
	ss := uint64(t.SectorSize)
	hs := make([]byte, ss)
	if _, err := d.ReadAt(hs, int64(ss)); err != nil {
		return Partition{}, false, fmt.Errorf("gpt: read primary header: %w", err)
	}
	h, err := parseHeader(hs, 1, uint64(size)/ss)
	if err != nil {
		return Partition{}, false, err
	}
	var p Partition
	found := false
	for _, q := range t.Partitions {
		if q.Index == index {
			p, found = q, true
		}
	}
	if !found {
		return Partition{}, false, fmt.Errorf("gpt: no partition %d", index)
	}
	for _, q := range t.Partitions {
		if q.Index != index && q.FirstLBA > p.LastLBA {
			return p, false, fmt.Errorf("%w: partition %d lies after %d", ErrNotLast, q.Index, index)
		}
	}
	sectors := uint64(size) / ss
	entriesBytes := uint64(h.NumEntries) * uint64(h.EntrySize)
	entriesSectors := (entriesBytes + ss - 1) / ss
	if sectors < h.FirstUsableLBA+entriesSectors+2 {
		return p, false, fmt.Errorf("gpt: disk of %d sectors is too small", sectors)
	}
	backupLBA := sectors - 1
	backupEntries := backupLBA - entriesSectors
	lastUsable := backupEntries - 1
	if h.AlternateLBA == backupLBA && p.LastLBA >= lastUsable {
		return p, false, nil
	}
	if lastUsable < p.LastLBA || lastUsable < h.LastUsableLBA {
		return p, false, fmt.Errorf("gpt: disk of %d sectors is smaller than its table says", sectors)
	}
	entries := make([]byte, entriesBytes)
	if _, err := d.ReadAt(entries, int64(h.EntriesLBA*ss)); err != nil {
		return p, false, fmt.Errorf("gpt: read entries: %w", err)
	}
	binary.LittleEndian.PutUint64(entries[uint64(index-1)*uint64(h.EntrySize)+40:], lastUsable)
	oldBackup := h.AlternateLBA
	h.LastUsableLBA, h.EntriesCRC32 = lastUsable, crc32.ChecksumIEEE(entries)
	backup := h
	backup.MyLBA, backup.AlternateLBA, backup.EntriesLBA = backupLBA, 1, backupEntries
	h.AlternateLBA = backupLBA
	writes := []struct {
		what string
		b    []byte
		lba  uint64
	}{
		{"backup entries", entries, backupEntries},
		{"backup header", encodeHeader(backup, int(ss)), backupLBA},
		{"primary entries", entries, h.EntriesLBA},
		{"primary header", encodeHeader(h, int(ss)), 1},
	}
	for _, w := range writes {
		if _, err := d.WriteAt(w.b, int64(w.lba*ss)); err != nil {
			return p, false, fmt.Errorf("gpt: write %s: %w", w.what, err)
		}
	}
	if err := growProtectiveMBR(d, sectors); err != nil {
		return p, false, err
	}
	if oldBackup != backupLBA && oldBackup > p.LastLBA && oldBackup < sectors {
		// The old backup header now lies inside the grown partition.
		if _, err := d.WriteAt(make([]byte, ss), int64(oldBackup*ss)); err != nil {
			return p, false, fmt.Errorf("gpt: clear old backup header: %w", err)
		}
	}
	p.LastLBA = lastUsable
	return p, true, nil
}

// growProtectiveMBR sets the size of the MBR's 0xEE entry to cover a disk
// of sectors sectors (capped at 32 bits, UEFI 2.10 table 5.4).
func growProtectiveMBR(d ReadWriterAt, sectors uint64) error {
	var mbr [512]byte
	if _, err := d.ReadAt(mbr[:], 0); err != nil {
		return fmt.Errorf("gpt: read MBR: %w", err)
	}
	for i := range 4 {
		e := mbr[446+16*i:][:16]
		if e[4] == 0xEE {
			binary.LittleEndian.PutUint32(e[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
		}
	}
	if _, err := d.WriteAt(mbr[:], 0); err != nil {
		return fmt.Errorf("gpt: write MBR: %w", err)
	}
	return nil
}

// encodeHeader encodes h into one sector of ss bytes, with its CRC32
// computed over h.HeaderSize bytes (UEFI 2.10 table 5.5).
func encodeHeader(h header, ss int) []byte {
	s := make([]byte, ss)
	le := binary.LittleEndian
	copy(s[0:8], signature)
	le.PutUint32(s[8:], h.Revision)
	le.PutUint32(s[12:], h.HeaderSize)
	le.PutUint64(s[24:], h.MyLBA)
	le.PutUint64(s[32:], h.AlternateLBA)
	le.PutUint64(s[40:], h.FirstUsableLBA)
	le.PutUint64(s[48:], h.LastUsableLBA)
	copy(s[56:72], h.DiskGUID[:])
	le.PutUint64(s[72:], h.EntriesLBA)
	le.PutUint32(s[80:], h.NumEntries)
	le.PutUint32(s[84:], h.EntrySize)
	le.PutUint32(s[88:], h.EntriesCRC32)
	le.PutUint32(s[16:], crc32.ChecksumIEEE(s[:h.HeaderSize]))
	return s
}
