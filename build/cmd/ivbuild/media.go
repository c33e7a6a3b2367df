package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/disk"
	"github.com/ironvisor/ironvisor/build/netboot"
)

// defaultCmdline is the kernel command line baked into boot media.
// panic=10 reboots a kernel that panics (a new build whose PID 1 dies),
// so that a boot slot on trial spends its tries and the box falls back.
const defaultCmdline = "console=ttyS0 console=tty0 panic=10"

// runDisk implements `ivbuild disk`.
func runDisk(args []string) int {
	fs := flag.NewFlagSet("disk", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	out := fs.String("o", ".cache/out/disk.img", "output disk image")
	cmdline := fs.String("cmdline", defaultCmdline, "kernel command line in the UKI (add ironvisor.* keys here)")
	ver := fs.String("version", "dev", "the image version in the UKI's .osrel (shown per boot slot in /v1/host)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild disk [-o FILE] [-cmdline ...] [-version V]\n\nWrites a GPT disk image whose EFI system partition holds systemd-boot at\n\\EFI\\BOOT\\BOOTX64.EFI and a unified kernel image (systemd's stub + host\nkernel + appliance initramfs + cmdline) as boot slot A in \\EFI\\Linux,\nwith room for slot B (ironvisor ctl host update). Write it to a server's\ndisk (dd) and boot it with UEFI.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	set, err := artefacts.Load(*dir)
	if err == nil {
		err = buildDisk(set, *out, *cmdline, *ver)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild disk:", err)
		return 1
	}
	return 0
}

// buildDisk writes the UEFI disk image and prints its size.
func buildDisk(set *artefacts.Set, out, cmdline, version string) error {
	logf("building UKI and GPT disk %s ...", out)
	err := disk.BuildBootDisk(context.Background(), out, disk.UKIOptions{
		Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(), Cmdline: cmdline, Version: version,
	})
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("disk %s: %s, boots %s with UEFI\n", out, mib(st.Size()), disk.BootPath)
	return nil
}

// runUKI implements `ivbuild uki`.
func runUKI(args []string) int {
	fs := flag.NewFlagSet("uki", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	out := fs.String("o", ".cache/out/ironvisor.efi", "output UKI")
	cmdline := fs.String("cmdline", defaultCmdline, "kernel command line in the UKI")
	ver := fs.String("version", "dev", "the image version in the UKI's .osrel")
	fs.Parse(args)
	set, err := artefacts.Load(*dir)
	if err == nil {
		err = disk.BuildUKI(context.Background(), *out, disk.UKIOptions{
			Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(), Cmdline: *cmdline, Version: *ver,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild uki:", err)
		return 1
	}
	fmt.Printf("uki %s: version %s; install it with: ironvisor ctl host update %s\n", *out, *ver, *out)
	return 0
}

// runPXE implements `ivbuild pxe`.
func runPXE(args []string) int {
	fs := flag.NewFlagSet("pxe", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	out := fs.String("o", ".cache/out/tftp", "output TFTP folder")
	cmdline := fs.String("cmdline", defaultCmdline, "kernel command line in the iPXE script")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild pxe [-o DIR] [-cmdline ...]\n\nWrites a TFTP folder with the host kernel, the appliance initramfs and an\niPXE script (boot.ipxe). Point your DHCP server's boot file at boot.ipxe\n(for iPXE clients) to network-boot servers.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	set, err := artefacts.Load(*dir)
	if err == nil {
		err = netboot.WriteTFTP(*out, netboot.Options{
			Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()}, Cmdline: *cmdline,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild pxe:", err)
		return 1
	}
	fmt.Printf("tftp folder %s: boot file %s\n", *out, filepath.Join(*out, netboot.ScriptName))
	return 0
}
