package datadisk

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
)

func TestIsBlankIsStrict(t *testing.T) {
	const size = 8 << 20
	for _, tc := range []struct {
		name  string
		at    []int64 // bytes set to 1
		size  int64
		blank bool
	}{
		{"all zero", nil, size, true},
		{"MBR or XFS at 0", []int64{0}, size, false},
		{"ext4 magic", []int64{1024 + 0x38}, size, false},
		{"btrfs at 64 KiB", []int64{0x10040}, size, false},
		{"last byte of the first MiB", []int64{BlankSpan - 1}, size, false},
		{"md 1.0 or GPT backup at the end", []int64{size - 512}, size, false},
		{"first byte of the last MiB", []int64{size - BlankSpan}, size, false},
		{"middle only", []int64{size / 2}, size, true},
		{"small partition, all read", []int64{700 << 10}, 768 << 10, false},
		{"small partition, blank", nil, 768 << 10, true},
	} {
		b := make([]byte, tc.size)
		for _, o := range tc.at {
			b[o] = 1
		}
		got, err := IsBlank(bytes.NewReader(b), tc.size)
		if err != nil || got != tc.blank {
			t.Errorf("%s: IsBlank = %v, %v; want %v", tc.name, got, err, tc.blank)
		}
	}
	if _, err := IsBlank(bytes.NewReader(nil), 4096); err == nil {
		t.Error("IsBlank of a partition shorter than it says: no error")
	}
}

// sparseFile returns a sparse file of size bytes.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "part.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFormatMakesACleanExt4 formats without mkfs.btrfs (a development
// host) and formats a sparse 2 GiB file and checks it with
// e2fsck and dumpe2fs: clean, labelled ivdata, few inodes.
func TestFormatMakesACleanExt4(t *testing.T) {
	e2fsck, err := exec.LookPath("e2fsck")
	if err != nil {
		t.Skipf("SKIP: e2fsck not installed (make deps installs e2fsprogs): %v", err)
	}
	const size = 2 << 30
	p := sparseFile(t, size)
	if fs, err := Format(p, size, ""); err != nil || fs != "ext4" {
		t.Fatalf("Format without mkfs.btrfs = %q, %v; want ext4", fs, err)
	}
	if out, err := exec.Command(e2fsck, "-f", "-n", p).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, out)
	}
	out, err := exec.Command("dumpe2fs", "-h", p).CombinedOutput()
	if err != nil {
		t.Skipf("SKIP: dumpe2fs: %v", err)
	}
	if !strings.Contains(string(out), "Filesystem volume name:   ivdata") {
		t.Errorf("dumpe2fs shows no ivdata label:\n%s", out)
	}
	if !strings.Contains(string(out), "Inode count:              8192\n") {
		t.Errorf("want one inode per %d bytes (8192):\n%s", InodeRatio, out)
	}
	if _, err := Format(p, size, ""); err == nil || !strings.Contains(err.Error(), "not blank") {
		t.Errorf("formatting an ext4 file system again: %v, want a refusal", err)
	}
}

func TestFormatRefusesAnythingNotBlank(t *testing.T) {
	const size = 16 << 20
	p := sparseFile(t, size)
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte("LUKS\xba\xbe"), 0)
	f.Close()
	for _, mkfs := range []string{"", hostMkfsBtrfs(t)} {
		if _, err := Format(p, size, mkfs); err == nil {
			t.Fatalf("Format (mkfs %q) wrote over a LUKS header", mkfs)
		}
	}
	b, _ := os.ReadFile(p)
	if !bytes.Equal(b[:6], []byte("LUKS\xba\xbe")) || !bytes.Equal(b[6:], make([]byte, size-6)) {
		t.Error("a refused Format changed the device")
	}
}

// fakeBlock lays out sysBlock and dev folders with disk files.
func fakeBlock(t *testing.T, disks map[string][]byte) (sys, dev string) {
	t.Helper()
	dir := t.TempDir()
	sys, dev = filepath.Join(dir, "sys"), filepath.Join(dir, "dev")
	for name, b := range disks {
		if err := os.MkdirAll(filepath.Join(sys, name, name+"2"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(sys, name+"2"), 0o755)
		os.WriteFile(filepath.Join(sys, name+"2", "partition"), []byte("2\n"), 0o644)
		os.WriteFile(filepath.Join(sys, name, name+"2", "partition"), []byte("2\n"), 0o644)
		os.MkdirAll(dev, 0o755)
		if err := os.WriteFile(filepath.Join(dev, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sys, dev
}

// ownDisk is a disk with an ESP and the data partition (entry 2).
func ownDisk(name string) []byte {
	return imagetest.GPTDisk(512, 8192, []imagetest.Part{
		{Index: 1, Type: gpt.TypeESP, First: 40, Last: 99},
		{Index: 2, Type: gpt.TypeIronvisorData, First: 100, Last: 4095, Name: name},
	})
}

func TestFindByTypeAndName(t *testing.T) {
	foreign := imagetest.GPTDisk(512, 8192, []imagetest.Part{{Index: 2, Type: gpt.TypeLinuxFilesystem, First: 100, Last: 4095, Name: "ivdata"}})
	sys, dev := fakeBlock(t, map[string][]byte{"vda": ownDisk("ivdata"), "vdb": foreign, "vdc": ownDisk("other"), "vdd": make([]byte, 1<<20)})
	f, err := Find(sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	if f.Disk != filepath.Join(dev, "vda") || f.Device != filepath.Join(dev, "vda2") || f.Partition.Index != 2 || f.Size() != 3996*512 {
		t.Errorf("Find = %+v", f)
	}

	sys, dev = fakeBlock(t, map[string][]byte{"vdb": foreign})
	if _, err := Find(sys, dev); !errors.Is(err, ErrNotFound) {
		t.Errorf("a Linux partition named ivdata: %v, want ErrNotFound", err)
	}
	sys, dev = fakeBlock(t, map[string][]byte{"vda": ownDisk("ivdata"), "vdb": ownDisk("ivdata")})
	if _, err := Find(sys, dev); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "2 disks") {
		t.Errorf("two disks with a data partition: %v, want a refusal naming both", err)
	}
}

func TestGrowOnASparseDisk(t *testing.T) {
	sys, dev := fakeBlock(t, map[string][]byte{"vda": ownDisk("ivdata")})
	if err := os.Truncate(filepath.Join(dev, "vda"), 256<<20); err != nil {
		t.Fatal(err)
	}
	f, err := Find(sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	g, changed, err := Grow(f)
	if err != nil || !changed {
		t.Fatalf("Grow = %v, %v", changed, err)
	}
	if want := int64(256<<20) - 100*512 - 33*512; g.Size() != want {
		t.Errorf("grown to %d bytes, want %d", g.Size(), want)
	}
	if _, changed, err := Grow(g); err != nil || changed {
		t.Errorf("second Grow = %v, %v; want no change", changed, err)
	}
}
