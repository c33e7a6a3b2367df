package images

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/images/bootsel"
)

// Names of the files ReadBoot writes.
const (
	BootKernel = "vmlinuz"
	BootInitrd = "initrd.img"
)

// VolumeBoot is what ReadBoot found on a volume and where it put it.
type VolumeBoot struct {
	// Kernel and Initrd are the copies in the folder ReadBoot was given;
	// Initrd is "" when the volume has none.
	Kernel, Initrd string
	// KernelPath is the kernel's path in the guest's file system
	// ("/boot/vmlinuz-6.1.0-28-cloud-amd64").
	KernelPath string
}

// ReadBoot reads the kernel and initrd that the disk at volume boots,
// as at import (bootsel: the GPT, the ext4 root, /vmlinuz and
// /initrd.img or the newest /boot/vmlinuz-VERSION, in user space, never
// mounted), and copies them into dir. This is what a bootloader does at
// each boot, so that a kernel the guest installed (apt upgrade) is the
// one its next start boots. The volume is the guest's: every read is
// bounded (MaxKernel, MaxInitrd), and a disk with nothing to boot is an
// error wrapping ErrInvalid, leaving dir's previous files in place.
func ReadBoot(volume, dir string) (VolumeBoot, error) {
	f, err := os.Open(volume)
	if err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	b, err := bootsel.Find(f, fi.Size(), bootsel.Options{MaxKernel: MaxKernel, MaxInitrd: MaxInitrd})
	if err != nil {
		return VolumeBoot{}, fmt.Errorf("%w: the root volume cannot be booted: %v", ErrInvalid, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	out := VolumeBoot{Kernel: filepath.Join(dir, BootKernel), KernelPath: b.KernelPath}
	if err := copyOut(out.Kernel, io.NewSectionReader(b.Kernel, 0, b.Kernel.Size())); err != nil {
		return VolumeBoot{}, fmt.Errorf("%w: read kernel %s: %v", ErrInvalid, b.KernelPath, err)
	}
	if b.Initrd != nil {
		out.Initrd = filepath.Join(dir, BootInitrd)
		if err := copyOut(out.Initrd, io.NewSectionReader(b.Initrd, 0, b.Initrd.Size())); err != nil {
			return VolumeBoot{}, fmt.Errorf("%w: read initrd %s: %v", ErrInvalid, b.InitrdPath, err)
		}
	} else if err := os.Remove(filepath.Join(dir, BootInitrd)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	return out, nil
}

// copyOut writes r to path through a temporary file renamed over it, so
// that a failed read leaves the previous file whole.
func copyOut(path string, r io.Reader) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
