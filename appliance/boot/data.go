package boot

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/datadisk"
	"github.com/ironvisor/ironvisor/config"
)

// DataDir is where the appliance keeps its state (store, images, volumes,
// TLS identity, admin token): the mount point of the configured data file
// system, or a tmpfs.
const DataDir = "/var/lib/ironvisor"

// dataModules are the disk drivers and file systems a data partition may
// need. They are in LateModules too, but the data step loads them first,
// because the control plane opens its store before the late wave.
var dataModules = []string{"virtio_blk", "virtio_scsi", "nvme", "ahci", "sd_mod", "ext4"}

// Data is the outcome of the data step.
type Data struct {
	// Source describes what is mounted on DataDir, e.g. "tmpfs" or
	// "/dev/vda (ext4, LABEL=ivdata)".
	Source string
	// Persistent is false when the state lives in RAM (tmpfs) and is lost
	// at reboot.
	Persistent bool
}

// dataFS is a file system found on a block device.
type dataFS struct {
	Type, Label, UUID string
}

// dataPlace says where the data step looks: the block devices listed in
// SysBlock (normally /sys/class/block) are opened as Dev/NAME (normally
// /dev). Wait bounds the wait for the device to appear (disk controllers
// probe asynchronously after their module loads). Tests point the folders
// at temporary ones.
type dataPlace struct {
	SysBlock, Dev string
	Wait          time.Duration
	// AutoWait bounds the wait for a disk carrying the own data partition
	// with ironvisor.data=auto, where none may ever come.
	AutoWait time.Duration
	// Mkfs is the mkfs.btrfs that formats a blank own data partition
	// (datadisk.Format); a missing one means ext4.
	Mkfs string
}

var systemPlace = dataPlace{SysBlock: "/sys/class/block", Dev: "/dev", Wait: 30 * time.Second, AutoWait: 3 * time.Second,
	Mkfs: datadisk.MkfsBtrfs}

// mountData mounts the data file system named by source (config.Data) on
// root+DataDir. An auto source mounts the own data partition (mountOwn),
// or a tmpfs when no disk carries one. A tmpfs source mounts a tmpfs
// (mode 0700). A device source
// loads the disk modules, waits up to place.Wait for the device (by
// label, UUID or path), recognises ext4 or btrfs from its superblock and
// mounts it. If that fails, the error is returned and a tmpfs is mounted
// instead, so the appliance still serves (with its state in RAM). A
// DataDir that is already a mount point is used as it is.
func mountData(root, source string, place dataPlace, mods *kmodule.ProbeOpts, logf func(string, ...any)) (Data, error) {
	dir := filepath.Join(root, DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Data{Source: "none"}, fmt.Errorf("create %s: %w", DataDir, err)
	}
	if isMountPoint(dir) {
		logf("%s already mounted; using it as it is", DataDir)
		return Data{Source: "already mounted", Persistent: true}, nil
	}
	kind, value, err := config.ParseData(source)
	if err == nil && kind == config.DataKindAuto {
		var d Data
		if d, err = mountOwn(dir, place, mods, logf); err == nil {
			return d, nil
		}
		if errors.Is(err, datadisk.ErrNotFound) {
			logf("data: %v; keeping the state in RAM", err)
			err = nil
		} else {
			err = fmt.Errorf("%s=%s: %w; keeping the state in RAM instead", config.KeyData, config.DataAuto, err)
		}
	} else if err == nil && kind != config.DataKindTmpfs {
		var d Data
		if d, err = mountDevice(dir, kind, value, place, mods, logf); err == nil {
			return d, nil
		}
		err = fmt.Errorf("%s=%s: %w; keeping the state in RAM instead", config.KeyData, source, err)
	}
	if terr := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); terr != nil {
		return Data{Source: "none"}, errors.Join(err, fmt.Errorf("mount tmpfs on %s: %w", DataDir, terr))
	}
	return Data{Source: "tmpfs"}, err
}

// mountDevice finds the data file system and mounts it on dir.
func mountDevice(dir, kind, value string, place dataPlace, mods *kmodule.ProbeOpts, logf func(string, ...any)) (Data, error) {
	loadDataModules(mods, logf)
	deadline := time.Now().Add(place.Wait)
	for {
		dev, fs, err := findData(place, kind, value)
		if err == nil {
			return mountFS(dir, dev, fs, mods, logf)
		}
		if time.Now().After(deadline) {
			return Data{}, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// loadDataModules loads the disk drivers and file systems. Missing
// modules are only logged: the driver may be built in.
func loadDataModules(mods *kmodule.ProbeOpts, logf func(string, ...any)) {
	if mods == nil {
		return
	}
	if _, err := LoadModules(dataModules, *mods, logf); err != nil {
		logf("data: loading disk modules: %v", err)
	}
}

// mountFS mounts the file system fs found on dev on dir.
func mountFS(dir, dev string, fs dataFS, mods *kmodule.ProbeOpts, logf func(string, ...any)) (Data, error) {
	if fs.Type == "btrfs" && mods != nil {
		if _, err := LoadModules([]string{"btrfs"}, *mods, logf); err != nil {
			logf("data: loading btrfs: %v", err)
		}
	}
	if err := unix.Mount(dev, dir, fs.Type, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOATIME, ""); err != nil {
		return Data{}, fmt.Errorf("mount %s (%s) on %s: %w", dev, fs.Type, DataDir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return Data{}, fmt.Errorf("chmod %s: %w", DataDir, err)
	}
	return Data{Source: fmt.Sprintf("%s (%s, LABEL=%s, UUID=%s)", dev, fs.Type, fs.Label, fs.UUID), Persistent: true}, nil
}

// findData returns the device holding the data file system: the one whose
// label or UUID matches (kind config.DataKindLabel or DataKindUUID), or the
// device path itself (DataKindDevice), with its file system. Devices are
// read in name order; exactly one may match.
func findData(place dataPlace, kind, value string) (string, dataFS, error) {
	if kind == config.DataKindDevice {
		fs, err := probeFS(value)
		return value, fs, err
	}
	ents, err := os.ReadDir(place.SysBlock)
	if err != nil {
		return "", dataFS{}, fmt.Errorf("list block devices: %w", err)
	}
	var found []string
	var foundFS dataFS
	for _, e := range ents {
		dev := filepath.Join(place.Dev, e.Name())
		fs, err := probeFS(dev)
		if err != nil {
			continue
		}
		if kind == config.DataKindLabel && fs.Label == value || kind == config.DataKindUUID && fs.UUID == value {
			found, foundFS = append(found, dev), fs
		}
	}
	what := strings.ToUpper(kind) + "=" + value
	switch len(found) {
	case 0:
		return "", dataFS{}, fmt.Errorf("no ext4 or btrfs file system with %s among %d block devices", what, len(ents))
	case 1:
		return found[0], foundFS, nil
	}
	return "", dataFS{}, fmt.Errorf("%s is on %d devices (%s); name one with %s=/dev/NAME", what, len(found), strings.Join(found, ", "), config.KeyData)
}

// Superblock layouts (Linux fs/ext4/ext4.h struct ext4_super_block and
// fs/btrfs's struct btrfs_super_block): offsets from the device start.
const (
	ext4SB, ext4Magic, ext4UUID, ext4Label = 1024, 0x38, 0x68, 0x78
	btrfsSB, btrfsFSID, btrfsMagic         = 0x10000, 0x20, 0x40
	btrfsLabel, btrfsLabelLen              = 0x12b, 256
)

// probeFS reads the superblock of the device (or image file) at path and
// recognises ext2/3/4 (mounted as ext4) and btrfs.
func probeFS(path string) (dataFS, error) {
	f, err := os.Open(path)
	if err != nil {
		return dataFS{}, err
	}
	defer f.Close()
	buf := make([]byte, btrfsSB+btrfsLabel+btrfsLabelLen)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return dataFS{}, fmt.Errorf("read %s: %w", path, err)
	}
	buf = buf[:n]
	if len(buf) >= btrfsSB+btrfsLabel+btrfsLabelLen && string(buf[btrfsSB+btrfsMagic:btrfsSB+btrfsMagic+8]) == "_BHRfS_M" {
		return dataFS{Type: "btrfs", UUID: formatUUID(buf[btrfsSB+btrfsFSID:]),
			Label: cString(buf[btrfsSB+btrfsLabel : btrfsSB+btrfsLabel+btrfsLabelLen])}, nil
	}
	if len(buf) >= ext4SB+ext4Label+16 && binary.LittleEndian.Uint16(buf[ext4SB+ext4Magic:]) == 0xEF53 {
		return dataFS{Type: "ext4", UUID: formatUUID(buf[ext4SB+ext4UUID:]),
			Label: cString(buf[ext4SB+ext4Label : ext4SB+ext4Label+16])}, nil
	}
	return dataFS{}, fmt.Errorf("%s: no ext4 or btrfs superblock", path)
}

// formatUUID formats the 16 bytes at the start of b as a lower-case UUID.
func formatUUID(b []byte) string {
	h := hex.EncodeToString(b[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
