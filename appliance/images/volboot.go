package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/images/bootjail"

	"github.com/ironvisor/ironvisor/appliance/durable"
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
// mounted, in the jailed child of package bootjail), and copies them into
// dir. This is what a bootloader does at each boot, so that a kernel the
// guest installed (apt upgrade) is the one its next start boots. The
// volume is the guest's: every read is bounded (MaxKernel, MaxInitrd),
// and a disk with nothing to boot is an error wrapping ErrInvalid,
// leaving dir's previous files in place.
func (s *Store) ReadBoot(volume, dir string) (VolumeBoot, error) {
	return readBoot(s.jail, volume, dir)
}

// readBoot is ReadBoot with the jail j.
func readBoot(j bootjail.Config, volume, dir string) (VolumeBoot, error) {
	f, err := os.Open(volume)
	if err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	out := VolumeBoot{Kernel: filepath.Join(dir, BootKernel)}
	kernel, initrd := newTempOut(out.Kernel), newTempOut(filepath.Join(dir, BootInitrd))
	defer kernel.discard()
	defer initrd.discard()
	r, err := j.Read(context.Background(), f, bootjail.Request{MaxKernel: MaxKernel, MaxInitrd: MaxInitrd}, kernel, initrd)
	if err != nil {
		return VolumeBoot{}, bootError("the root volume cannot be booted", err)
	}
	out.KernelPath = r.KernelPath
	if err := kernel.commit(); err != nil {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	if r.InitrdPath != "" {
		out.Initrd = initrd.path
		if err := initrd.commit(); err != nil {
			return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
		}
	} else if err := os.Remove(initrd.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return VolumeBoot{}, fmt.Errorf("read boot files: %w", err)
	}
	return out, nil
}

// bootError maps what the jailed boot reader said to today's errors: the
// disk's fault wraps ErrInvalid (what refused, as bootsel said it), the
// reader's own failure does not.
func bootError(what string, err error) error {
	var pe *bootjail.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read boot files: %w", err)
	}
	switch pe.Stage {
	case bootjail.StageKernel:
		return fmt.Errorf("%w: read kernel %s: %v", ErrInvalid, pe.Path, pe.Msg)
	case bootjail.StageInitrd:
		return fmt.Errorf("%w: read initrd %s: %v", ErrInvalid, pe.Path, pe.Msg)
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalid, what, pe.Msg)
}

// tempOut is a file written through path+".tmp", created at the first
// write and renamed over path by commit, so that a failed read leaves the
// previous file whole.
type tempOut struct {
	path string
	f    *os.File
}

func newTempOut(path string) *tempOut { return &tempOut{path: path} }

func (t *tempOut) Write(p []byte) (int, error) {
	if t.f == nil {
		f, err := os.OpenFile(t.path+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return 0, err
		}
		t.f = f
	}
	return t.f.Write(p)
}

// commit closes the file and renames it over path.
func (t *tempOut) commit() error {
	if t.f == nil {
		return errors.New("nothing written to " + t.path)
	}
	err := t.f.Close()
	t.f = nil
	if err == nil {
		err = durable.Rename(t.path+".tmp", t.path)
	}
	return err
}

// discard removes what commit did not keep.
func (t *tempOut) discard() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	os.Remove(t.path + ".tmp")
}
