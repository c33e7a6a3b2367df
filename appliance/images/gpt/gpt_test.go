package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// read reads disk's table or fails the test.
func read(t *testing.T, disk []byte) *Table {
	t.Helper()
	tab, err := Read(bytes.NewReader(disk), int64(len(disk)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tab
}

// checkDebian checks that tab is debianParts.
func checkDebian(t *testing.T, tab *Table, ss int) {
	t.Helper()
	if tab.SectorSize != ss || len(tab.Partitions) != 3 {
		t.Fatalf("sector size %d, %d partitions; want %d, 3", tab.SectorSize, len(tab.Partitions), ss)
	}
	root := tab.Partitions[0]
	if root.Index != 1 || root.Type != TypeLinuxFilesystem || root.FirstLBA != 300 || root.LastLBA != 1900 || root.Name != "root" {
		t.Errorf("root = %+v", root)
	}
	esp, ok := tab.Find(TypeESP)
	if !ok || esp.Index != 15 || esp.Name != "EFI system partition ü" {
		t.Errorf("ESP = %+v, %v", esp, ok)
	}
	if root.Offset(ss) != 300*int64(ss) || root.Size(ss) != 1601*int64(ss) {
		t.Errorf("root offset %d size %d", root.Offset(ss), root.Size(ss))
	}
}

func TestReadDebianLayout(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		tab := read(t, makeDisk(ss, 2048, debianParts))
		checkDebian(t, tab, ss)
		if tab.FromBackup {
			t.Error("a valid primary was not used")
		}
	}
}

func TestPartitionReader(t *testing.T) {
	disk := makeDisk(512, 2048, debianParts)
	copy(disk[300*512:], "hello root")
	tab := read(t, disk)
	p := make([]byte, 10)
	if _, err := tab.Open(bytes.NewReader(disk), tab.Partitions[0]).ReadAt(p, 0); err != nil || string(p) != "hello root" {
		t.Fatalf("partition read %q, %v", p, err)
	}
}

func TestFallsBackToBackup(t *testing.T) {
	for name, damage := range map[string]func([]byte){
		"header CRC":     func(d []byte) { d[512+40]++ },
		"entries CRC":    func(d []byte) { d[2*512+32]++ },
		"header wiped":   func(d []byte) { clear(d[512:1024]) },
		"entries moved":  func(d []byte) { binary.LittleEndian.PutUint64(d[512+72:], 1<<40) },
		"header too big": func(d []byte) { binary.LittleEndian.PutUint32(d[512+12:], 4096) },
	} {
		t.Run(name, func(t *testing.T) {
			disk := makeDisk(512, 2048, debianParts)
			damage(disk)
			tab := read(t, disk)
			if !tab.FromBackup || tab.PrimaryErr == nil {
				t.Fatalf("FromBackup %v PrimaryErr %v", tab.FromBackup, tab.PrimaryErr)
			}
			checkDebian(t, tab, 512)
		})
	}
}

func TestRefuses(t *testing.T) {
	overlap := append([]testPart{{Index: 2, Type: TypeLinuxSwap, First: 1000, Last: 1100, Name: "swap"}}, debianParts...)
	outside := []testPart{{Index: 1, Type: TypeLinuxFilesystem, First: 10, Last: 1900, Name: "root"}}
	cases := []struct {
		name string
		disk func() []byte
		want error
	}{
		{"no MBR signature", func() []byte { d := makeDisk(512, 2048, debianParts); d[510] = 0; return d }, ErrNoGPT},
		{"MBR without 0xEE", func() []byte { d := makeDisk(512, 2048, debianParts); d[446+4] = 0x83; return d }, ErrNoGPT},
		{"no GPT headers", func() []byte { d := makeDisk(512, 2048, nil); clear(d[512:1024]); clear(d[len(d)-512:]); return d }, ErrNoGPT},
		{"both headers bad", func() []byte { d := makeDisk(512, 2048, debianParts); d[512+40]++; d[len(d)-512+40]++; return d }, ErrCorrupt},
		{"overlapping partitions", func() []byte { return makeDisk(512, 2048, overlap) }, ErrCorrupt},
		{"partition outside usable area", func() []byte { return makeDisk(512, 2048, outside) }, ErrCorrupt},
		{"tiny disk", func() []byte { return makeDisk(512, 2048, nil)[:1024] }, ErrNoGPT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.disk()
			if _, err := Read(bytes.NewReader(d), int64(len(d))); !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHugeEntryCountIsRefused(t *testing.T) {
	disk := makeDisk(512, 2048, debianParts)
	le := binary.LittleEndian
	for _, lba := range []int{1, 2047} {
		h := disk[lba*512:][:92]
		le.PutUint32(h[80:], 1<<31)
		le.PutUint32(h[16:], 0)
		le.PutUint32(h[16:], crc32IEEE(h))
	}
	if _, err := Read(bytes.NewReader(disk), int64(len(disk))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read = %v, want ErrCorrupt", err)
	}
}

func TestGUIDText(t *testing.T) {
	const s = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	g := MustParseGUID(s)
	// The on-disk form of the ESP type (UEFI 2.10, appendix A).
	want := GUID{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if g != want || g.String() != s {
		t.Fatalf("GUID %x %s", g[:], g)
	}
	if lower, _ := ParseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"); lower != g {
		t.Error("lower case differs")
	}
	for _, bad := range []string{"", "C12A7328F81F11D2BA4B00A0C93EC93B", "X12A7328-F81F-11D2-BA4B-00A0C93EC93B", "C12A7328-F81F-11D2-BA4B00-A0C93EC93B"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) accepted", bad)
		}
	}
}
