package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/datadisk"
	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/initramfs"
)

// runInitramfs implements `ivbuild initramfs`.
func runInitramfs(args []string) int {
	fs := flag.NewFlagSet("initramfs", flag.ExitOnError)
	var kf kernelFlags
	kf.register(fs)
	out := fs.String("o", ".cache/out/appliance.cpio.gz", "output file; its folder becomes the artefacts folder (manifest.json)")
	bin := fs.String("binary", ".cache/out/ironvisor", "the static ironvisor binary to use as /init")
	extra := fs.String("modules", "", "extra kernel modules, comma-separated")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild initramfs [-o FILE] [-binary PATH] [-modules a,b] [-cache DIR]\n\nBuilds the reproducible appliance initramfs (gzip newc cpio) from the\nironvisor binary and the host kernel's modules, prints its sizes and\nsha256, and writes manifest.json beside it.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if err := buildInitramfs(*out, *bin, *extra, kf); err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild initramfs:", err)
		return 1
	}
	return 0
}

// buildInitramfs fetches the kernels, writes the image and the manifest.
func buildInitramfs(out, bin, extra string, kf kernelFlags) error {
	host, guest, err := kf.get(context.Background())
	if err != nil {
		return err
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var extraMods []string
	if extra != "" {
		extraMods = strings.Split(extra, ",")
	}
	logf("resolving modules of %s ...", host.Release)
	b, set, err := initramfs.Appliance(initramfs.ApplianceOptions{
		Binary: bin, KernelRelease: host.Release, ModulesDir: host.ModulesDir(), ExtraModules: extraMods,
		Kernel: host.Vmlinuz(), IPXE: ipxeBinaries(), Executables: applianceExecutables(),
	})
	if err != nil {
		return err
	}
	logf("modules: %d (%s), not modular in this kernel: %s", len(set.Modules), mib(set.TotalSize()),
		strings.Join(set.Missing, " "))
	var raw countWriter
	if err := b.Write(&raw, initramfs.None); err != nil {
		return err
	}
	logf("writing %s ...", out)
	size, err := b.WriteFile(out, initramfs.Gzip)
	if err != nil {
		return err
	}
	sum, err := fileSHA256(out)
	if err != nil {
		return err
	}
	fmt.Printf("initramfs %s: %s gzip, %s uncompressed, %d modules (%s), sha256 %s\n",
		out, mib(size), mib(raw.n), len(set.Modules), mib(set.TotalSize()), sum)
	relBin, err := linkBinary(dir, bin)
	if err != nil {
		return err
	}
	return artefacts.Save(dir, artefacts.Manifest{
		Ironvisor: relBin, Initramfs: filepath.Base(out), InitramfsSHA256: sum,
		InitramfsBytes: size, UncompressedBytes: raw.n, Modules: len(set.Modules), ModuleBytes: set.TotalSize(),
		HostKernel: host, GuestKernel: guest,
	})
}

// linkBinary returns the binary's name relative to dir; a binary outside
// dir is copied in as "ironvisor", with the ironvisor-vmm beside it if
// there is one.
func linkBinary(dir, bin string) (string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	absBin, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	if filepath.Dir(absBin) == absDir {
		return filepath.Base(absBin), nil
	}
	for src, name := range map[string]string{absBin: "ironvisor", filepath.Join(filepath.Dir(absBin), "ironvisor-vmm"): "ironvisor-vmm"} {
		data, err := os.ReadFile(src)
		if errors.Is(err, fs.ErrNotExist) && name == "ironvisor-vmm" {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(absDir, name), data, 0o755); err != nil {
			return "", err
		}
	}
	return "ironvisor", nil
}

// countWriter counts bytes written.
type countWriter struct{ n int64 }

// Write counts p.
func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// fileSHA256 returns the hex sha256 of a file.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mib formats a byte count in MiB.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// ipxeDir is where Debian's ipxe package puts its binaries.
const ipxeDir = "/usr/lib/ipxe"

// ipxeBinaries returns Debian's iPXE binaries for plain PXE firmware
// (BIOS and UEFI), those that are installed; a missing one is logged:
// rack bootstrap then boots only iPXE-capable firmware (QEMU's ROMs are).
func ipxeBinaries() []string {
	var out []string
	for _, n := range []string{"undionly.kpxe", "ipxe.efi"} {
		p := filepath.Join(ipxeDir, n)
		if _, err := os.Stat(p); err != nil {
			logf("no %s (Debian package ipxe): rack bootstrap cannot chain plain PXE firmware to iPXE", p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// mkfsBtrfs is where Debian's btrfs-progs installs mkfs.btrfs.
const mkfsBtrfs = "/sbin/mkfs.btrfs"

// applianceExecutables returns the host programs the appliance image
// carries: Debian's mkfs.btrfs at datadisk.MkfsBtrfs, which formats a
// blank data partition as btrfs so that root volumes are reflinks of
// their images. Without it (logged) the appliance makes ext4 and copies.
func applianceExecutables() map[string]string {
	if _, err := os.Stat(mkfsBtrfs); err != nil {
		logf("no %s (Debian package btrfs-progs): the appliance will format its data partition as ext4, whose volumes are full copies", mkfsBtrfs)
		return nil
	}
	return map[string]string{datadisk.MkfsBtrfs: mkfsBtrfs}
}
