// Package datadisk finds, grows and formats the appliance's own data
// partition: the partition of type gpt.TypeIronvisorData named
// gpt.DataPartitionName that a flashed disk image carries (build/disk).
//
// It formats only what is provably its own and empty: a partition of
// Ironvisor's type and name, whose first and last BlankSpan bytes are all
// zero (see IsBlank). It never looks at a disk's contents beyond the GPT
// and that partition, so other disks and partitions are never written.
//
// The file system is btrfs, made by Debian's mkfs.btrfs, which the
// appliance image carries at MkfsBtrfs with its shared libraries
// (initramfs.ApplianceOptions.Executables). btrfs because it shares
// extents: package volumes makes an instance's root volume a reflink
// (FICLONE) of its image, so that a launch costs the same whatever the
// image's size, where ext4 must copy every data block (issue 12). No
// maintained pure-Go library writes btrfs, and the mkfs of the file
// system's own project is the one its kernel driver is tested against.
//
// Where mkfs.btrfs is absent (a development host running parts of this
// outside the image), Format makes ext4 instead with
// github.com/diskfs/go-diskfs (filesystem/ext4.Create), a maintained
// pure-Go library whose own tests check every file system it makes with
// e2fsck, and says so: volumes are then full (sparse) copies. Its limits,
// and how they are met here: go-diskfs's ext4 writing is younger than
// e2fsprogs, so it is used only to make an empty file system, which the
// kernel's ext4 driver then mounts and writes (checked with e2fsck in
// this package's tests); and it zeroes every inode table at creation
// rather than lazily, so Format asks for one inode per InodeRatio bytes
// (the appliance keeps few, large files: images, volumes, one store),
// which keeps the inode tables under 0.1% of the disk. GPT growing uses
// appliance/images/gpt, this project's own reader, and its Grow.
package datadisk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// BlankSpan is how much of each end of a partition must be zero for
// IsBlank. Every file system, volume manager and RAID signature Linux
// knows lies in the first or the last MiB of a device (ext2/3/4 at 1 KiB,
// btrfs at 64 KiB, XFS, LUKS and ZFS's first labels at the start; md
// 0.90/1.0, ZFS's last labels and GPT backups at the end).
const BlankSpan = 1 << 20

// InodeRatio is the bytes per inode Format asks for.
const InodeRatio = 256 << 10

// ErrNotFound is returned by Find when no disk carries the data partition.
var ErrNotFound = errors.New("no disk carries an Ironvisor data partition")

// IsBlank reports whether the partition r, size bytes long, is blank: its
// first and last BlankSpan bytes (all of it, if smaller) are zero.
func IsBlank(r io.ReaderAt, size int64) (bool, error) {
	if size <= 0 {
		return false, fmt.Errorf("partition of %d bytes", size)
	}
	spans := [][2]int64{{0, min(size, BlankSpan)}}
	if size > BlankSpan {
		start := max(size-BlankSpan, BlankSpan)
		spans = append(spans, [2]int64{start, size - start})
	}
	for _, s := range spans {
		buf := make([]byte, s[1])
		if _, err := r.ReadAt(buf, s[0]); err != nil {
			return false, fmt.Errorf("read %d bytes at %d: %w", s[1], s[0], err)
		}
		if !isZero(buf) {
			return false, nil
		}
	}
	return true, nil
}

// isZero reports whether b is all zeros.
func isZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Format makes the data file system labelled gpt.DataPartitionName on
// the device or image file at path, size bytes long, and returns its type:
// "btrfs" with the mkfs.btrfs at mkfs (normally MkfsBtrfs) when that
// exists, else "ext4" (see the package comment). It refuses unless the
// device is blank (IsBlank), so it can never destroy data.
func Format(path string, size int64, mkfs string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("format %s: %w", path, err)
	}
	defer f.Close()
	blank, err := IsBlank(f, size)
	if err != nil {
		return "", fmt.Errorf("format %s: %w", path, err)
	}
	if !blank {
		return "", fmt.Errorf("format %s: refusing: it is not blank", path)
	}
	if mkfs != "" && isExecutable(mkfs) {
		return "btrfs", formatBtrfs(mkfs, path, size)
	}
	p := &ext4.Params{VolumeName: gpt.DataPartitionName, InodeRatio: InodeRatio}
	if _, err := ext4.Create(file.New(f, false), size, 0, 512, p); err != nil {
		return "", fmt.Errorf("format %s: ext4: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("format %s: %w", path, err)
	}
	return "ext4", nil
}

// Found is the data partition on one disk.
type Found struct {
	Disk      string // the whole disk's device, e.g. /dev/vda
	Device    string // the partition's device, e.g. /dev/vda2
	Partition gpt.Partition
	Table     *gpt.Table
	DiskSize  int64 // the disk's size in bytes
}

// Size returns the partition's size in bytes.
func (f Found) Size() int64 { return f.Partition.Size(f.Table.SectorSize) }

// Find looks at every whole disk listed in sysBlock (normally
// /sys/class/block), opened read-only as dev/NAME, for a GPT partition of
// type gpt.TypeIronvisorData named gpt.DataPartitionName. It returns
// ErrNotFound when none has one, and an error naming them when more than
// one does (the appliance will not guess). The partition's device is
// found through sysBlock: the child NAME whose "partition" file holds its
// index. It may be empty when the kernel has not listed it yet.
func Find(sysBlock, dev string) (Found, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return Found{}, fmt.Errorf("list block devices: %w", err)
	}
	var all []Found
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(sysBlock, e.Name(), "partition")); err == nil {
			continue // a partition, not a whole disk
		}
		f, ok := findOn(filepath.Join(dev, e.Name()))
		if !ok {
			continue
		}
		f.Device = partitionDevice(sysBlock, dev, e.Name(), f.Partition.Index)
		all = append(all, f)
	}
	switch len(all) {
	case 0:
		return Found{}, fmt.Errorf("%w among %d block devices", ErrNotFound, len(ents))
	case 1:
		return all[0], nil
	}
	var names []string
	for _, f := range all {
		names = append(names, f.Disk)
	}
	return Found{}, fmt.Errorf("%d disks carry an Ironvisor data partition (%s); name one with ironvisor.data=/dev/NAME",
		len(all), strings.Join(names, ", "))
}

// findOn reads the GPT of the disk at path and returns its data partition.
func findOn(path string) (Found, bool) {
	f, err := os.Open(path)
	if err != nil {
		return Found{}, false
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size <= 0 {
		return Found{}, false
	}
	t, err := gpt.Read(f, size)
	if err != nil {
		return Found{}, false
	}
	for _, p := range t.Partitions {
		if p.Type == gpt.TypeIronvisorData && p.Name == gpt.DataPartitionName {
			return Found{Disk: path, Partition: p, Table: t, DiskSize: size}, true
		}
	}
	return Found{}, false
}

// partitionDevice returns dev/CHILD for the child of disk in sysBlock
// whose partition number is index, or "" if there is none yet.
func partitionDevice(sysBlock, dev, disk string, index int) string {
	ents, err := os.ReadDir(filepath.Join(sysBlock, disk))
	if err != nil {
		return ""
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(sysBlock, disk, e.Name(), "partition"))
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n == index {
			return filepath.Join(dev, e.Name())
		}
	}
	return ""
}

// Grow extends f's partition to the end of its disk (gpt.Grow) and asks
// the kernel to read the new table (BLKRRPART; nothing on the disk may be
// mounted). It returns the grown partition and whether anything changed.
func Grow(f Found) (Found, bool, error) {
	d, err := os.OpenFile(f.Disk, os.O_RDWR, 0)
	if err != nil {
		return f, false, fmt.Errorf("grow: %w", err)
	}
	defer d.Close()
	p, changed, err := gpt.Grow(d, f.DiskSize, f.Partition.Index)
	if err != nil || !changed {
		return f, false, err
	}
	if err := d.Sync(); err != nil {
		return f, false, fmt.Errorf("grow: %w", err)
	}
	f.Partition = p
	if err := rereadPartitions(d); err != nil {
		return f, true, err
	}
	return f, true, nil
}

// rereadPartitions asks the kernel to read d's partition table again. A
// regular file (a test image) has none to read.
func rereadPartitions(d *os.File) error {
	st, err := d.Stat()
	if err != nil || st.Mode()&os.ModeDevice == 0 {
		return err
	}
	if err := unix.IoctlSetInt(int(d.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("grow: re-read the partition table of %s: %w", d.Name(), err)
	}
	return nil
}
