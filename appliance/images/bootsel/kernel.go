package bootsel

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/images/ext4"
	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// pair is a kernel path with the initrd path that goes with it.
type pair struct{ kernel, initrd string }

// findKernel looks for the kernel in the root's file system, then in a
// separate /boot file system, and fills b.
func (b *Boot) findKernel(root volume, vols []volume, opts Options) error {
	maxK, maxI := opts.MaxKernel, opts.MaxInitrd
	if maxK <= 0 {
		maxK = DefaultMaxKernel
	}
	if maxI <= 0 {
		maxI = DefaultMaxInitrd
	}
	var errs []error
	try := func(fs *ext4.FS, dirs ...string) bool {
		for _, p := range candidates(fs, dirs...) {
			err := b.open(fs, p, maxK, maxI)
			if err == nil {
				return true
			}
			errs = append(errs, err)
		}
		return false
	}
	if try(root.fs, "/", "/boot") {
		return nil
	}
	// A separate /boot: Ubuntu's XBOOTLDR partition, or any other Linux
	// file system with kernels at its top level.
	for _, v := range vols {
		if v.part.Index != root.part.Index && (v.part.Type == gpt.TypeLinuxXBOOTLDR || v.part.Type == gpt.TypeLinuxFilesystem) {
			if try(v.fs, "/") {
				return nil
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotFound, errors.Join(errs...))
	}
	return fmt.Errorf("%w: no /vmlinuz, /boot/vmlinuz or /boot/vmlinuz-* in the root file system", ErrNotFound)
}

// open opens the kernel and initrd of p, checking their sizes.
func (b *Boot) open(fs *ext4.FS, p pair, maxK, maxI int64) error {
	k, err := fs.Open(p.kernel)
	if err != nil {
		return err
	}
	if k.Size() > maxK || k.Size() == 0 {
		return fmt.Errorf("kernel %s is %d bytes (limit %d)", p.kernel, k.Size(), maxK)
	}
	kp, _ := fs.Realpath(p.kernel)
	var ini *ext4.File
	var ip string
	if p.initrd != "" {
		ini, err = fs.Open(p.initrd)
		switch {
		case errors.Is(err, ext4.ErrNotExist):
			ini = nil // a kernel without an initrd boots without one
		case err != nil:
			return err
		case ini.Size() > maxI:
			return fmt.Errorf("%w: initrd %s is %d bytes (limit %d)", ext4.ErrTooBig, p.initrd, ini.Size(), maxI)
		default:
			ip, _ = fs.Realpath(p.initrd)
		}
	}
	b.Kernel, b.KernelPath, b.Initrd, b.InitrdPath = k, kp, ini, ip
	return nil
}

// candidates returns, in order of preference, the kernel/initrd pairs to
// try in each of dirs: the vmlinuz and initrd.img symlinks, then every
// vmlinuz-VERSION, newest first, with initrd.img-VERSION.
func candidates(fs *ext4.FS, dirs ...string) []pair {
	var out []pair
	for _, d := range dirs {
		if fi, err := fs.Lstat(path.Join(d, "vmlinuz")); err == nil && fi.Type != ext4.TypeDir {
			out = append(out, pair{path.Join(d, "vmlinuz"), path.Join(d, "initrd.img")})
		}
	}
	for _, d := range dirs {
		ents, err := fs.ReadDir(d)
		if err != nil {
			continue
		}
		var versions []string
		for _, e := range ents {
			if v, ok := strings.CutPrefix(e.Name, "vmlinuz-"); ok && v != "" {
				versions = append(versions, v)
			}
		}
		sortVersions(versions)
		for _, v := range versions {
			out = append(out, pair{path.Join(d, "vmlinuz-"+v), path.Join(d, "initrd.img-"+v)})
		}
	}
	return out
}
