package boot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/datadisk"
	"github.com/ironvisor/ironvisor/appliance/images/gpt"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
)

// ownPartSectors is the size of ownPlace's data partition in its GPT.
const ownPartSectors = 8192 - 34 - 100

// ownPlace lays out a fake /sys/class/block and /dev: disk vda with an ESP
// and the own data partition (entry 2), whose device vda2 is a separate
// file holding part.
func ownPlace(t *testing.T, part []byte) (dataPlace, string) {
	t.Helper()
	dir := t.TempDir()
	place := dataPlace{SysBlock: filepath.Join(dir, "sys"), Dev: filepath.Join(dir, "dev")}
	for _, d := range []string{filepath.Join(place.SysBlock, "vda", "vda2"), filepath.Join(place.SysBlock, "vda2"), place.Dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(place.SysBlock, "vda", "vda2", "partition"), []byte("2\n"), 0o644)
	os.WriteFile(filepath.Join(place.SysBlock, "vda2", "partition"), []byte("2\n"), 0o644)
	disk := imagetest.GPTDisk(512, 8192, []imagetest.Part{
		{Index: 1, Type: gpt.TypeESP, First: 40, Last: 99},
		{Index: 2, Type: gpt.TypeIronvisorData, First: 100, Last: 100 + ownPartSectors - 1, Name: gpt.DataPartitionName},
	})
	os.WriteFile(filepath.Join(place.Dev, "vda"), disk, 0o644)
	dev := filepath.Join(place.Dev, "vda2")
	if err := os.WriteFile(dev, part, 0o644); err != nil {
		t.Fatal(err)
	}
	return place, dev
}

// TestMountOwnLeavesForeignContentsAlone: a data partition holding
// anything but blank space or the appliance's own btrfs or ext4 is never
// written.
func TestMountOwnLeavesForeignContentsAlone(t *testing.T) {
	junk := make([]byte, ownPartSectors*512)
	copy(junk[len(junk)-512:], "md raid superblock at the end")
	for name, tc := range map[string]struct {
		part []byte
		want string
	}{
		"junk at the end": {junk, "neither blank nor"},
		"another ext4":    {ext4Image(t, "other"), "not the appliance's btrfs or ext4 LABEL=ivdata"},
	} {
		place, dev := ownPlace(t, tc.part)
		var log bytes.Buffer
		_, err := mountOwn(t.TempDir(), place, nil, func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: mountOwn = %v, want %q", name, err, tc.want)
		}
		if got, _ := os.ReadFile(dev); !bytes.Equal(got, tc.part) {
			t.Errorf("%s: the partition was written", name)
		}
		if strings.Contains(log.String(), "data: made") || strings.Contains(log.String(), "grew") {
			t.Errorf("%s: log says it formatted or grew:\n%s", name, log.String())
		}
	}
}

// TestMountOwnFormatsBlank: a blank data partition gets the appliance's
// btrfs with the image's mkfs.btrfs (here the host's), or ext4 with a
// warning where there is none, said on the console (the mount itself
// needs a real block device).
func TestMountOwnFormatsBlank(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		t.Skipf("SKIP: mkfs.btrfs not installed (make deps installs btrfs-progs): %v", err)
	}
	for _, tc := range []struct{ mkfs, fs, log, warn string }{
		{mkfs, "btrfs", "data: made a btrfs file system LABEL=ivdata on ", ""},
		{filepath.Join(t.TempDir(), "none"), "ext4", "data: made an ext4 file system LABEL=ivdata on ", "every root volume is a full copy"},
	} {
		place, dev := ownPlace(t, make([]byte, 64<<20))
		place.Mkfs = tc.mkfs
		var log bytes.Buffer
		_, err := mountOwn(t.TempDir(), place, nil, func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) })
		if !strings.Contains(log.String(), tc.log+dev+" (64 MiB)") || !strings.Contains(log.String(), tc.warn) {
			t.Errorf("%s: log:\n%s (mountOwn: %v)", tc.fs, log.String(), err)
		}
		if tc.warn == "" && strings.Contains(log.String(), "WARNING") {
			t.Errorf("%s: a warning:\n%s", tc.fs, log.String())
		}
		fs, perr := probeFS(dev)
		if perr != nil || fs.Type != tc.fs || fs.Label != gpt.DataPartitionName {
			t.Errorf("after mountOwn: %+v, %v; want %s", fs, perr, tc.fs)
		}
	}
}

func TestMountOwnNotFound(t *testing.T) {
	dir := t.TempDir()
	place := dataPlace{SysBlock: dir, Dev: dir}
	if _, err := mountOwn(t.TempDir(), place, nil, t.Logf); !errors.Is(err, datadisk.ErrNotFound) {
		t.Errorf("no disks: %v, want ErrNotFound", err)
	}
}

// ext4Image returns a small ext4 image labelled label, made by Format on
// a blank file and relabelled in its superblock.
func ext4Image(t *testing.T, label string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(p, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := datadisk.Format(p, 16<<20, ""); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	l := b[ext4SB+ext4Label : ext4SB+ext4Label+16]
	clear(l)
	copy(l, label)
	return b
}
