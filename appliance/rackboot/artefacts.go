package rackboot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"
)

// Where the appliance image keeps what rack bootstrap serves (see
// initramfs.ApplianceOptions): the kernel it boots with, and the iPXE
// binaries for plain PXE firmware when the build had them.
const (
	KernelPath = "/boot/vmlinuz"
	IPXEDir    = "/lib/ironvisor/ipxe"
)

// runtimeFiles are files of the root file system that boot writes; they
// describe this box, not the image, and are left out of the served one.
var runtimeFiles = map[string]bool{"etc/resolv.conf": true}

// Artefacts are this box's own boot artefacts, as served to its rack:
// the kernel, and the initramfs. The kernel's initramfs is freed once it
// is unpacked, so the served one is packed again from the root file
// system it became: every file of the root file system's own device
// (what the archive held), with the mounts on it (/proc, /sys, /dev,
// /run, /tmp, the data file system) as empty folders, /dev/console, and
// without runtimeFiles. Records are reproducible (cpio.MakeReproducible):
// the same image serves the same bytes.
type Artefacts struct {
	// Root is the root file system; "" means "/". Tests use a folder.
	Root string

	once   sync.Once
	initrd []byte
	err    error
}

// root returns Root or "/".
func (a *Artefacts) root() string {
	if a.Root == "" {
		return "/"
	}
	return a.Root
}

// Kernel returns the path of the kernel, or an error if the image has
// none.
func (a *Artefacts) Kernel() (string, error) {
	p := filepath.Join(a.root(), KernelPath)
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("no kernel at %s in this image (built without one?)", KernelPath)
	}
	return p, nil
}

// IPXE returns the path of the iPXE binary name (IPXEBIOS or IPXEEFI).
func (a *Artefacts) IPXE(name string) (string, error) {
	if name != IPXEBIOS && name != IPXEEFI {
		return "", fs.ErrNotExist
	}
	p := filepath.Join(a.root(), IPXEDir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no %s in this image: %w", name, fs.ErrNotExist)
	}
	return p, nil
}

// Initrd returns the initramfs, packing it at the first call.
func (a *Artefacts) Initrd() ([]byte, error) {
	a.once.Do(func() { a.initrd, a.err = pack(a.root()) })
	return a.initrd, a.err
}

// pack writes the newc archive of the file system at root, staying on
// root's device.
func pack(root string) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nil, fmt.Errorf("pack initramfs: %w", err)
	}
	rootDev := st.Dev
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	rec := cpio.NewRecorder()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." || runtimeFiles[rel] {
			return err
		}
		var fst unix.Stat_t
		if err := unix.Lstat(path, &fst); err != nil {
			return err
		}
		if fst.Dev != rootDev {
			// A mount on the root file system: its folder, empty.
			if err := w.WriteRecord(cpio.MakeReproducible(cpio.Directory(rel, 0o755))); err != nil {
				return err
			}
			return fs.SkipDir
		}
		if !d.IsDir() && !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // sockets, fifos, device nodes: made at run time
		}
		r, err := rec.GetRecord(path)
		if err != nil {
			return err
		}
		r.Name = rel
		return w.WriteRecord(cpio.MakeReproducible(r))
	})
	if err != nil && !errors.Is(err, fs.SkipDir) {
		return nil, fmt.Errorf("pack initramfs: %w", err)
	}
	// /dev/console (5,1): the kernel opens it for init's fds 0-2 before
	// devtmpfs is mounted.
	if err := w.WriteRecord(cpio.MakeReproducible(cpio.CharDev("dev/console", 0o600, 5, 1))); err != nil {
		return nil, fmt.Errorf("pack initramfs: %w", err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, fmt.Errorf("pack initramfs: %w", err)
	}
	return buf.Bytes(), nil
}
