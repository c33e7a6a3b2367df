// Package guestinitrd builds the small busybox initrds that Linux guests
// boot in the virtual-rack tests: a static busybox as every command, a
// shell /init, the usual mount points, and chosen modules of the guest
// kernel with a modules.dep for busybox modprobe. The archive is a
// reproducible gzip cpio (package initramfs).
package guestinitrd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/build/kernels"
	"github.com/ironvisor/ironvisor/initramfs"
)

// Busybox is the static busybox (Debian's busybox-static) the initrds run
// their scripts with.
const Busybox = "/bin/busybox"

// ErrNoInit means a Spec has no /init script.
var ErrNoInit = errors.New("guest initrd: no /init script")

// Spec describes one guest initrd. Zero values have the meaning given on
// the field.
type Spec struct {
	// Init is the /init script; it should start with "#!/bin/busybox sh".
	// Required.
	Init string
	// Kernel is the guest kernel whose Modules are packed; it is needed
	// only when Modules is not empty.
	Kernel kernels.Kernel
	// Modules are module names resolved, with their dependencies, in
	// Kernel's modules folder. A name that is neither a module nor built
	// into the kernel is an error. Nil packs no module.
	Modules []string
	// Files are more entries (scripts, data); nil adds none.
	Files []initramfs.Entry
	// Busybox is the host's static busybox; "" means Busybox.
	Busybox string
}

// RootDirs returns the mount points the /init scripts use: /proc, /sys,
// /dev, /tmp and /mnt.
func RootDirs() []initramfs.Entry {
	var out []initramfs.Entry
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/mnt"} {
		out = append(out, initramfs.Dir(d, 0o755))
	}
	return out
}

// Modules resolves names in a kernel's modules folder (dir is the host
// folder holding /lib/modules/RELEASE's content) and returns the archive
// entries that install them with a modules.dep for busybox modprobe, and
// the requested names that are neither modules nor built in.
func Modules(dir, release string, names []string) ([]initramfs.Entry, []string, error) {
	set, err := initramfs.ResolveModules(dir, names)
	if err != nil {
		return nil, nil, fmt.Errorf("guest initrd: modules in %s: %w", dir, err)
	}
	have := make(map[string]bool, len(set.Modules)+len(set.Builtin))
	for _, m := range set.Modules {
		have[m.Name] = true
	}
	for _, n := range set.Builtin {
		have[n] = true
	}
	var missing []string
	for _, n := range names {
		if !have[strings.ReplaceAll(n, "-", "_")] {
			missing = append(missing, n)
		}
	}
	return set.Entries(release), missing, nil
}

// Entries returns the archive entries of s: the console device, busybox,
// /init, the mount points, the modules and s.Files.
func Entries(s Spec) ([]initramfs.Entry, error) {
	if s.Init == "" {
		return nil, ErrNoInit
	}
	bb := s.Busybox
	if bb == "" {
		bb = Busybox
	}
	out := []initramfs.Entry{
		initramfs.Console(),
		initramfs.HostFile("/bin/busybox", 0o755, bb),
		initramfs.File("/init", 0o755, []byte(s.Init)),
	}
	out = append(out, RootDirs()...)
	if len(s.Modules) > 0 {
		mods, missing, err := Modules(s.Kernel.ModulesDir(), s.Kernel.Release, s.Modules)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("guest initrd: %v are neither modules nor built into %s", missing, s.Kernel.Release)
		}
		out = append(out, mods...)
	}
	return append(out, s.Files...), nil
}

// Write writes s as a gzip cpio archive at path.
func Write(path string, s Spec) error {
	entries, err := Entries(s)
	if err != nil {
		return err
	}
	b := initramfs.New()
	if err := b.Add(entries...); err != nil {
		return fmt.Errorf("guest initrd: %w", err)
	}
	if _, err := b.WriteFile(path, initramfs.Gzip); err != nil {
		return fmt.Errorf("guest initrd: %w", err)
	}
	return nil
}
