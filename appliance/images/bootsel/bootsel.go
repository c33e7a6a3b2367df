// Package bootsel finds what a stock cloud image boots: its root
// partition, its own kernel and initrd, and the kernel command line,
// reading the disk in user space (issue 12: "Never mount an untrusted file
// system in the host kernel").
//
// Find does what a bootloader configured by Debian's or Ubuntu's packages
// would do, without running one:
//
//   - reads the GPT (appliance/images/gpt), or treats a disk without one as
//     a bare file system;
//   - picks the root file system: the first ext4 partition of type "Linux
//     root (x86-64)", else the first "Linux filesystem" one that holds
//     /etc/fstab or /boot;
//   - reads the kernel and initrd from the /vmlinuz and /initrd.img
//     symlinks that Debian's kernel packages maintain, else /boot/vmlinuz
//     and /boot/initrd.img (Ubuntu), else the newest /boot/vmlinuz-VERSION
//     with its /boot/initrd.img-VERSION; when /boot is a partition of its
//     own (Ubuntu's XBOOTLDR partition) it looks there the same way;
//   - names the root device by the file system's UUID (root=UUID=...),
//     else its label, else the partition's GUID.
//
// The disk is hostile: every reader below is bounded and fuzzed, and sizes
// are capped by Options.
package bootsel

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/images/ext4"
	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// ErrNotFound is returned when the disk has no bootable Linux root, or the
// root has no kernel.
var ErrNotFound = errors.New("bootsel: no bootable Linux found")

// DefaultCmdline is appended after root= when Options.Cmdline is empty:
// the appliance's serial console, read-only root until fsck (as Debian's
// GRUB entry does).
const DefaultCmdline = "ro console=ttyS0"

// Default size limits.
const (
	DefaultMaxKernel = 128 << 20
	DefaultMaxInitrd = 1 << 30
)

// maxPartitions bounds how many partitions Find opens.
const maxPartitions = 16

// Options tunes Find. The zero value uses the defaults.
type Options struct {
	// Cmdline follows root=... on the command line; "" means
	// DefaultCmdline.
	Cmdline string
	// MaxKernel and MaxInitrd refuse larger files; 0 means
	// DefaultMaxKernel and DefaultMaxInitrd.
	MaxKernel, MaxInitrd int64
}

// Boot is what Find found.
type Boot struct {
	// Kernel and Initrd read the files on the disk; Initrd is nil when
	// the image has none. They read through the disk Find was given.
	Kernel, Initrd *ext4.File
	// KernelPath and InitrdPath are the files' paths, symlinks resolved,
	// in the file system they were read from ("/boot/vmlinuz-6.1.0-28-cloud-amd64").
	KernelPath, InitrdPath string
	// RootPartition is the root's 1-based GPT entry number (vdaN), or 0
	// for a disk without a partition table.
	RootPartition int
	// Root is the root= value: "UUID=...", "LABEL=..." or "PARTUUID=...".
	Root string
	// RootUUID and RootLabel describe the root file system.
	RootUUID, RootLabel string
	// Cmdline is the full kernel command line to boot with.
	Cmdline string
	// NeedsRecovery is true when the root's journal was not replayed (an
	// unclean shutdown): the files read may be older than the guest's last
	// writes.
	NeedsRecovery bool
}

// volume is one candidate file system.
type volume struct {
	fs   *ext4.FS
	part gpt.Partition // zero for a bare file system
}

// Find reads the disk r, size bytes long, and returns how to boot it.
func Find(r io.ReaderAt, size int64, opts Options) (*Boot, error) {
	vols, err := volumes(r, size)
	if err != nil {
		return nil, err
	}
	root, ok := pickRoot(vols)
	if !ok {
		return nil, fmt.Errorf("%w: no ext4 partition holds /etc/fstab or /boot", ErrNotFound)
	}
	b := &Boot{RootPartition: root.part.Index, RootUUID: root.fs.UUID(), RootLabel: root.fs.Label(),
		NeedsRecovery: root.fs.NeedsRecovery()}
	if err := b.findKernel(root, vols, opts); err != nil {
		return nil, err
	}
	b.Root = rootSpec(root)
	extra := opts.Cmdline
	if extra == "" {
		extra = DefaultCmdline
	}
	b.Cmdline = "root=" + b.Root + " " + extra
	return b, nil
}

// volumes opens every ext4 file system on the disk, in partition order.
func volumes(r io.ReaderAt, size int64) ([]volume, error) {
	t, err := gpt.Read(r, size)
	if errors.Is(err, gpt.ErrNoGPT) {
		fs, ferr := ext4.Open(r, size)
		if ferr != nil {
			return nil, fmt.Errorf("%w: no partition table (%v) and no file system (%v)", ErrNotFound, err, ferr)
		}
		return []volume{{fs: fs}}, nil
	}
	if err != nil {
		return nil, err
	}
	var vols []volume
	for i, p := range t.Partitions {
		if i >= maxPartitions {
			break
		}
		if p.Type != gpt.TypeLinuxRootX86_64 && p.Type != gpt.TypeLinuxFilesystem && p.Type != gpt.TypeLinuxXBOOTLDR {
			continue
		}
		fs, err := ext4.Open(t.Open(r, p), p.Size(t.SectorSize))
		if err != nil {
			continue // not ext4, or damaged: another partition may do
		}
		vols = append(vols, volume{fs: fs, part: p})
	}
	return vols, nil
}

// pickRoot returns the root file system: an x86-64 root partition first,
// then any Linux file system with /etc/fstab or /boot.
func pickRoot(vols []volume) (volume, bool) {
	for _, v := range vols {
		if v.part.Type == gpt.TypeLinuxRootX86_64 {
			return v, true
		}
	}
	for _, v := range vols {
		if v.part.Type == gpt.TypeLinuxXBOOTLDR {
			continue
		}
		for _, p := range []string{"/etc/fstab", "/boot"} {
			if _, err := v.fs.Lstat(p); err == nil {
				return v, true
			}
		}
	}
	return volume{}, false
}

// rootSpec returns the root= value for v.
func rootSpec(v volume) string {
	if u := v.fs.UUID(); u != "00000000-0000-0000-0000-000000000000" {
		return "UUID=" + u
	}
	if l := v.fs.Label(); l != "" && !strings.ContainsAny(l, " \t\"") {
		return "LABEL=" + l
	}
	if !v.part.Unique.IsZero() {
		return "PARTUUID=" + strings.ToLower(v.part.Unique.String())
	}
	return "/dev/vda"
}
