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
const defaultCmdline = "console=ttyS0 console=tty0"

// runDisk implements `ivbuild disk`.
func runDisk(args []string) int {
	fs := flag.NewFlagSet("disk", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	out := fs.String("o", ".cache/out/disk.img", "output disk image")
	cmdline := fs.String("cmdline", defaultCmdline, "kernel command line in the UKI (add ironvisor.* keys here)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild disk [-o FILE] [-cmdline ...]\n\nWrites a GPT disk image whose EFI system partition holds a unified kernel\nimage (systemd-boot's stub + host kernel + appliance initramfs + cmdline)\nat \\EFI\\BOOT\\BOOTX64.EFI. Write it to a server's disk (dd) and boot\nit with UEFI.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	set, err := artefacts.Load(*dir)
	if err == nil {
		err = buildDisk(set, *out, *cmdline)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild disk:", err)
		return 1
	}
	return 0
}

// buildDisk writes the UEFI disk image and prints its size.
func buildDisk(set *artefacts.Set, out, cmdline string) error {
	logf("building UKI and GPT disk %s ...", out)
	err := disk.BuildBootDisk(context.Background(), out, disk.UKIOptions{
		Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(), Cmdline: cmdline,
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
