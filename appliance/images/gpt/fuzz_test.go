package gpt

import (
	"bytes"
	"hash/crc32"
	"testing"
)

// crc32IEEE is the checksum GPT uses.
func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// FuzzRead reads a partition table from arbitrary bytes. Nothing may
// panic, and every partition returned must lie inside the disk.
func FuzzRead(f *testing.F) {
	f.Add(makeDisk(512, 64, []testPart{{Index: 1, Type: TypeLinuxFilesystem, First: 40, Last: 50, Name: "root"}}))
	d := makeDisk(512, 64, []testPart{{Index: 1, Type: TypeESP, First: 40, Last: 50, Name: "esp"}})
	d[512+40]++
	f.Add(d)
	f.Fuzz(func(t *testing.T, disk []byte) {
		tab, err := Read(bytes.NewReader(disk), int64(len(disk)))
		if err != nil {
			return
		}
		for _, p := range tab.Partitions {
			if p.Offset(tab.SectorSize)+p.Size(tab.SectorSize) > int64(len(disk)) || p.Size(tab.SectorSize) <= 0 {
				t.Fatalf("partition %+v outside the %d-byte disk", p, len(disk))
			}
		}
	})
}
