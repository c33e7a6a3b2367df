package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"

	"github.com/ironvisor/ironvisor/appliance/datadisk"
	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// mountOwn mounts the appliance's own data partition (datadisk.Find: GPT
// type Ironvisor data, named ivdata) on dir, waiting up to place.AutoWait
// for a disk that carries one. What it finds decides what it does:
//   - a btrfs or ext4 file system labelled ivdata is mounted as it is;
//   - a blank partition (datadisk.IsBlank) is first grown to the end of
//     its disk, when it is the last partition, then given a btrfs file
//     system labelled ivdata (datadisk.Format with place.Mkfs; ext4 where
//     that is missing, whose volumes are full copies), saying both on the
//     console, and mounted;
//   - anything else is left alone, and an error says what is there.
//
// datadisk.ErrNotFound (wrapped) means no disk carries one.
func mountOwn(dir string, place dataPlace, mods *kmodule.ProbeOpts, logf func(string, ...any)) (Data, error) {
	loadDataModules(mods, logf)
	f, err := waitOwn(place, place.AutoWait)
	if err != nil {
		return Data{}, err
	}
	if fs, err := probeFS(f.Device); err == nil {
		if fs.Type != "btrfs" && fs.Type != "ext4" || fs.Label != gpt.DataPartitionName {
			return Data{}, fmt.Errorf("%s, the Ironvisor data partition on %s, holds %s LABEL=%s, not the appliance's btrfs or ext4 LABEL=%s; leaving it alone",
				f.Device, f.Disk, fs.Type, fs.Label, gpt.DataPartitionName)
		}
		return mountFS(dir, f.Device, fs, mods, logf)
	}
	if err := checkBlank(f); err != nil {
		return Data{}, err
	}
	f, err = growOwn(f, place, logf)
	if err != nil {
		return Data{}, err
	}
	size, err := kernelSize(place, f.Device)
	if err != nil {
		return Data{}, err
	}
	start := time.Now()
	made, err := datadisk.Format(f.Device, size, place.Mkfs)
	if err != nil {
		return Data{}, err
	}
	article := "a"
	if made == "ext4" {
		article = "an"
	}
	logf("data: made %s %s file system LABEL=%s on %s (%s) in %.1fs: first boot on this disk",
		article, made, gpt.DataPartitionName, f.Device, humanBytes(size), time.Since(start).Seconds())
	if made != "btrfs" {
		logf("data: WARNING no %s in this image: ext4 shares no extents, so every root volume is a full copy of its image", place.Mkfs)
	}
	fs, err := probeFS(f.Device)
	if err != nil {
		return Data{}, fmt.Errorf("after formatting: %w", err)
	}
	return mountFS(dir, f.Device, fs, mods, logf)
}

// waitOwn finds the own data partition, waiting up to wait for its disk
// and for the kernel to list the partition's device.
func waitOwn(place dataPlace, wait time.Duration) (datadisk.Found, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := datadisk.Find(place.SysBlock, place.Dev)
		switch {
		case err == nil && f.Device != "":
			return f, nil
		case err == nil:
			err = fmt.Errorf("the kernel lists no partition %d of %s", f.Partition.Index, f.Disk)
		case !errors.Is(err, datadisk.ErrNotFound):
			return f, err
		}
		if time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBlank fails unless f's partition is blank.
func checkBlank(f datadisk.Found) error {
	d, err := os.Open(f.Device)
	if err != nil {
		return err
	}
	defer d.Close()
	blank, err := datadisk.IsBlank(d, f.Size())
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Device, err)
	}
	if !blank {
		return fmt.Errorf("%s, the Ironvisor data partition on %s, is neither blank nor the appliance's own file system; not formatting it",
			f.Device, f.Disk)
	}
	return nil
}

// growOwn grows f's partition to the end of its disk, and waits for the
// kernel to list it again. A partition that cannot grow (another lies
// after it) is logged and used at its size.
func growOwn(f datadisk.Found, place dataPlace, logf func(string, ...any)) (datadisk.Found, error) {
	before := f.Size()
	g, changed, err := datadisk.Grow(f)
	switch {
	case errors.Is(err, gpt.ErrNotLast):
		logf("data: not growing %s: %v", f.Device, err)
		return f, nil
	case err != nil:
		return f, err
	case !changed:
		return f, nil
	}
	g, err = waitOwn(place, 10*time.Second)
	if err != nil {
		return g, fmt.Errorf("after growing: %w", err)
	}
	logf("data: grew %s, the Ironvisor data partition, from %s to %s to fill %s", g.Device,
		humanBytes(before), humanBytes(g.Size()), f.Disk)
	return g, nil
}

// kernelSize returns the size the kernel gives the block device dev, from
// place.SysBlock/NAME/size (in 512-byte units), waiting briefly for it to
// show a re-read partition table; for a regular file (tests) its length.
func kernelSize(place dataPlace, dev string) (int64, error) {
	if st, err := os.Stat(dev); err == nil && st.Mode().IsRegular() {
		return st.Size(), nil
	}
	b, err := os.ReadFile(filepath.Join(place.SysBlock, filepath.Base(dev), "size"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size of %s: %q", dev, b)
	}
	return n * 512, nil
}

// humanBytes formats n in MiB or GiB.
func humanBytes(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
