package gpt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// sparseDisk writes a test disk of sectors sectors holding parts to a file,
// then extends the file (sparsely) to grown sectors, as a disk image
// flashed onto a larger disk looks.
func sparseDisk(t *testing.T, ss int, sectors, grown uint64, parts []testPart) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteAt(makeDisk(ss, sectors, parts), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(grown) * int64(ss)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGrowMovesBackupAndExtendsLastPartition(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		parts := []testPart{
			{Index: 1, Type: TypeESP, First: 40, Last: 99, Name: "EFI system partition"},
			{Index: 2, Type: TypeIronvisorData, First: 100, Last: 199, Name: DataPartitionName},
		}
		const sectors, grown = 300, 1 << 20 // 512 MiB or 4 GiB, sparse
		f := sparseDisk(t, ss, sectors, grown, parts)
		size := int64(grown) * int64(ss)
		p, changed, err := Grow(f, size, 2)
		if err != nil || !changed {
			t.Fatalf("ss %d: Grow = %v, %v", ss, changed, err)
		}
		entrySectors := uint64(128 * 128 / ss)
		wantLast := uint64(grown) - 2 - entrySectors
		if p.LastLBA != wantLast || p.FirstLBA != 100 {
			t.Errorf("ss %d: grown partition [%d, %d], want [100, %d]", ss, p.FirstLBA, p.LastLBA, wantLast)
		}
		tab, err := Read(f, size)
		if err != nil || tab.FromBackup || tab.LastUsable != wantLast {
			t.Fatalf("ss %d: after Grow: %+v, %v", ss, tab, err)
		}
		if got, _ := tab.Find(TypeIronvisorData); got.LastLBA != wantLast || got.Name != DataPartitionName {
			t.Errorf("ss %d: data partition after Grow = %+v", ss, got)
		}
		if esp, _ := tab.Find(TypeESP); esp.FirstLBA != 40 || esp.LastLBA != 99 {
			t.Errorf("ss %d: ESP moved: %+v", ss, esp)
		}
		// The backup at the new end must be valid on its own.
		if _, err := f.WriteAt(make([]byte, ss), int64(ss)); err != nil {
			t.Fatal(err)
		}
		tab, err = Read(f, size)
		if err != nil || !tab.FromBackup {
			t.Fatalf("ss %d: backup after Grow: %+v, %v", ss, tab, err)
		}
		if got, _ := tab.Find(TypeIronvisorData); got.LastLBA != wantLast {
			t.Errorf("ss %d: backup's data partition = %+v", ss, got)
		}
		// The old backup header, now inside the partition, is gone.
		old := make([]byte, 8)
		if _, err := f.ReadAt(old, int64(sectors-1)*int64(ss)); err != nil || string(old) == signature {
			t.Errorf("ss %d: stale backup header left at LBA %d (%v)", ss, sectors-1, err)
		}
	}
}

func TestGrowIsIdempotent(t *testing.T) {
	parts := []testPart{{Index: 1, Type: TypeIronvisorData, First: 40, Last: 99, Name: DataPartitionName}}
	f := sparseDisk(t, 512, 200, 4096, parts)
	if _, changed, err := Grow(f, 4096*512, 1); err != nil || !changed {
		t.Fatalf("first Grow = %v, %v", changed, err)
	}
	before, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := Grow(f, 4096*512, 1); err != nil || changed {
		t.Fatalf("second Grow = %v, %v; want no change", changed, err)
	}
	after, _ := os.ReadFile(f.Name())
	if string(before) != string(after) {
		t.Error("a second Grow rewrote the disk")
	}
}

func TestGrowRefuses(t *testing.T) {
	parts := []testPart{
		{Index: 1, Type: TypeIronvisorData, First: 40, Last: 99, Name: DataPartitionName},
		{Index: 2, Type: TypeLinuxFilesystem, First: 100, Last: 150},
	}
	f := sparseDisk(t, 512, 200, 4096, parts)
	if _, _, err := Grow(f, 4096*512, 1); !errors.Is(err, ErrNotLast) {
		t.Errorf("growing a partition with another after it: %v, want ErrNotLast", err)
	}
	if _, _, err := Grow(f, 4096*512, 3); err == nil {
		t.Error("growing a missing partition succeeded")
	}
	// A damaged primary is never rewritten from the backup.
	if _, err := f.WriteAt([]byte("XXXX"), 512+60); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Grow(f, 200*512, 2); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Grow with a damaged primary header: %v, want ErrCorrupt", err)
	}
}
