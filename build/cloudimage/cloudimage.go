// Package cloudimage builds a disk image in the layout of Debian 12's
// genericcloud image, for tests and benchmarks that boot a stock
// distribution the way a user's image would boot:
//
//   - debootstrap of bookworm (minbase) with systemd, udev, ifupdown and
//     the DHCP client, linux-image-cloud-amd64 (its initramfs-tools
//     initrd is built by the package), cloud-init (with
//     python3-cffi-backend, which its crypto needs) and openssh-server;
//   - /etc/fstab mounting LABEL=root on /, en_US.UTF-8 generated (the
//     locale cloud-init sets by default), and manage_etc_hosts as Debian's
//     images set it; nothing else changed: cloud-init keeps its stock
//     datasource configuration;
//   - one GPT partition with an ext4 file system labelled "root"
//     (mke2fs -d, so no loop device or mount is needed);
//   - the image's own kernel and initrd copied beside the disk, since a
//     VMM without firmware boots them directly;
//   - the disk once more as a compressed qcow2 (qemu-img convert -c), the
//     format distributions publish their cloud images in, for importing
//     into the appliance.
//
// Build keeps everything in one folder and reuses a finished image: a
// rebuild takes minutes and downloads some 150 MiB from the Debian mirror.
package cloudimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ironvisor/ironvisor/build/disk"
)

// Packages are the packages debootstrap adds to minbase: genericcloud's
// own among them (debian-cloud-images-packages lists them) that a user
// meets first: cloud-guest-utils (growpart, which cloud-init's growpart
// module runs to grow the root partition to the volume's size), sudo (for
// the default user cloud-init creates), and libpam-systemd with dbus
// (systemd-logind, which turns the ACPI power button into a poweroff).
var Packages = []string{
	"systemd-sysv", "udev", "ifupdown", "isc-dhcp-client", "e2fsprogs",
	"linux-image-cloud-amd64", "cloud-init", "python3-cffi-backend", "openssh-server",
	"cloud-guest-utils", "sudo", "libpam-systemd", "dbus", "netbase",
}

// Defaults of Options.
const (
	DefaultSuite = "bookworm"
	DefaultSize  = 2 << 30
)

// Options say what to build. Zero values mean the defaults above.
type Options struct {
	Dir    string // folder holding the image and its parts; required
	Suite  string // Debian suite
	Mirror string // Debian mirror URL; empty means debootstrap's own default
	Size   int64  // size of the root file system, bytes
	Log    io.Writer
}

// Image is a built image: the disk (GPT, ext4 root labelled "root" on
// partition 1), the same disk as a compressed qcow2, and the kernel and
// initrd installed in it.
type Image struct {
	Disk, Qcow2, Kernel, Initrd string
}

// Cmdline is the kernel command line that boots the image on a serial
// console, as Debian's cloud images do through GRUB.
const Cmdline = "root=LABEL=root ro console=ttyS0"

// paths returns where the image's files go in dir.
func paths(dir string) Image {
	return Image{Disk: filepath.Join(dir, "disk.raw"), Qcow2: filepath.Join(dir, "disk.qcow2"), Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
}

// Cached returns the image in dir if a previous Build finished it.
func Cached(dir string) (Image, bool) {
	img := paths(dir)
	for _, p := range []string{img.Disk, img.Qcow2, img.Kernel, img.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return img, false
		}
	}
	return img, true
}

// Build builds the image in o.Dir, or returns the one already there. It
// needs root (debootstrap chroots), debootstrap and mke2fs.
func Build(ctx context.Context, o Options) (Image, error) {
	if o.Dir == "" {
		return Image{}, fmt.Errorf("cloud image: no folder")
	}
	if img, ok := Cached(o.Dir); ok {
		return img, nil
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if img := paths(o.Dir); exists(img.Disk, img.Kernel, img.Initrd) {
		return img, toQcow2(ctx, o.Log, img)
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return Image{}, fmt.Errorf("cloud image: %w", err)
	}
	root := filepath.Join(o.Dir, "rootfs")
	if err := bootstrap(ctx, o, root); err != nil {
		return Image{}, err
	}
	if err := configure(root); err != nil {
		return Image{}, err
	}
	if err := generateLocale(ctx, o.Log, root); err != nil {
		return Image{}, err
	}
	img := paths(o.Dir)
	if err := copyBoot(root, img); err != nil {
		return Image{}, err
	}
	fs := filepath.Join(o.Dir, "root.ext4")
	os.Remove(fs)
	if err := run(ctx, o.Log, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-d", root, fs, fmt.Sprintf("%dk", o.Size>>10)); err != nil {
		return Image{}, err
	}
	defer os.Remove(fs)
	tmp := img.Disk + ".tmp"
	if err := disk.WriteLinuxGPTDisk(tmp, fs, "root"); err != nil {
		return Image{}, fmt.Errorf("cloud image: %w", err)
	}
	if err := os.Rename(tmp, img.Disk); err != nil {
		return Image{}, fmt.Errorf("cloud image: %w", err)
	}
	return img, toQcow2(ctx, o.Log, img)
}

// exists says whether every path exists.
func exists(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// toQcow2 writes img.Disk as a compressed qcow2 to img.Qcow2, through a
// temporary file renamed when qemu-img finished, with its progress (-p)
// to log.
func toQcow2(ctx context.Context, log io.Writer, img Image) error {
	tmp := img.Qcow2 + ".tmp"
	os.Remove(tmp)
	if err := run(ctx, log, "qemu-img", "convert", "-p", "-c", "-f", "raw", "-O", "qcow2", img.Disk, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, img.Qcow2); err != nil {
		return fmt.Errorf("cloud image: %w", err)
	}
	return nil
}

// bootstrap runs debootstrap into root, unless an earlier run finished
// (debootstrap works in root.tmp, renamed when it succeeds).
func bootstrap(ctx context.Context, o Options, root string) error {
	if _, err := os.Stat(filepath.Join(root, "etc", "debian_version")); err == nil {
		return nil
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	args := []string{"--variant=minbase", "--include=" + strings.Join(Packages, ","), o.Suite, tmp}
	if o.Mirror != "" {
		args = append(args, o.Mirror)
	}
	if err := run(ctx, o.Log, "debootstrap", args...); err != nil {
		return err
	}
	return os.Rename(tmp, root)
}

// configure writes the few files a genericcloud image has beyond
// debootstrap: fstab, hostname, hosts, and cloud-init's manage_etc_hosts.
func configure(root string) error {
	for name, content := range map[string]string{
		"etc/fstab":    "LABEL=root / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\n",
		"etc/hostname": "localhost\n",
		"etc/hosts":    "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
		// As Debian's cloud images configure cloud-init: /etc/hosts names
		// the instance's hostname, so that sudo and others resolve it.
		"etc/cloud/cloud.cfg.d/01_debian_cloud.cfg": "manage_etc_hosts: true\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("cloud image: %w", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("cloud image: %w", err)
		}
	}
	return nil
}

// Locale is the locale the image generates: the one cloud-init's locale
// module sets when the user data names none. Without it generated,
// update-locale refuses it and cloud-init reports an error.
const Locale = "en_US.UTF-8"

// generateLocale lists Locale in /etc/locale.gen and runs locale-gen in
// root, as the locales package does for the locales a Debian installer
// (or debian-cloud-images) selects.
func generateLocale(ctx context.Context, log io.Writer, root string) error {
	if err := os.WriteFile(filepath.Join(root, "etc", "locale.gen"), []byte(Locale+" UTF-8\n"), 0o644); err != nil {
		return fmt.Errorf("cloud image: %w", err)
	}
	return run(ctx, log, "chroot", root, "locale-gen")
}

// copyBoot copies the installed kernel and initrd (the only ones in
// /boot) to img's paths.
func copyBoot(root string, img Image) error {
	for pattern, dst := range map[string]string{"vmlinuz-*": img.Kernel, "initrd.img-*": img.Initrd} {
		m, _ := filepath.Glob(filepath.Join(root, "boot", pattern))
		if len(m) != 1 {
			return fmt.Errorf("cloud image: %d files match /boot/%s, want 1", len(m), pattern)
		}
		b, err := os.ReadFile(m[0])
		if err != nil {
			return fmt.Errorf("cloud image: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("cloud image: %w", err)
		}
	}
	return nil
}

// run runs a command with its output to log.
func run(ctx context.Context, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cloud image: %s: %w", name, err)
	}
	return nil
}
