// Package netboot prepares network boot: a TFTP folder with the kernel,
// the initrds and an iPXE script, which QEMU's user-mode network serves
// (`-netdev user,tftp=DIR,bootfile=boot.ipxe -boot n`) and a rack's DHCP
// server can point real servers at.
package netboot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ScriptName is the iPXE script's file name in the TFTP folder.
const ScriptName = "boot.ipxe"

// Options describe what to network-boot.
type Options struct {
	// Kernel is the host path of the bzImage. Required.
	Kernel string
	// Initrds are host paths of initrd archives, loaded in order (iPXE
	// places them one after another, so later archives override earlier
	// ones). nil means none.
	Initrds []string
	// Cmdline is the kernel command line; "" means "console=ttyS0".
	Cmdline string
}

// Script returns the iPXE script for files named kernel and initrds inside
// the TFTP folder. Relative names resolve against the script's own URL,
// so the same script works from QEMU's TFTP server and any other.
// See https://ipxe.org/scripting and the kernel, initrd and boot commands.
func Script(kernel string, initrds []string, cmdline string) string {
	var b strings.Builder
	b.WriteString("#!ipxe\necho Ironvisor network boot\n")
	fmt.Fprintf(&b, "kernel %s %s\n", kernel, cmdline)
	for _, i := range initrds {
		fmt.Fprintf(&b, "initrd %s\n", i)
	}
	b.WriteString("boot\n")
	return b.String()
}

// WriteTFTP fills dir with the kernel ("vmlinuz"), the initrds
// ("initrd0", "initrd1", ...) and boot.ipxe.
func WriteTFTP(dir string, o Options) error {
	if o.Kernel == "" {
		return fmt.Errorf("netboot: no kernel")
	}
	cmdline := o.Cmdline
	if cmdline == "" {
		cmdline = "console=ttyS0"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netboot: %w", err)
	}
	if err := copyFile(filepath.Join(dir, "vmlinuz"), o.Kernel); err != nil {
		return err
	}
	var names []string
	for i, src := range o.Initrds {
		name := fmt.Sprintf("initrd%d", i)
		if err := copyFile(filepath.Join(dir, name), src); err != nil {
			return err
		}
		names = append(names, name)
	}
	script := Script("vmlinuz", names, cmdline)
	if err := os.WriteFile(filepath.Join(dir, ScriptName), []byte(script), 0o644); err != nil {
		return fmt.Errorf("netboot: %w", err)
	}
	return nil
}

// copyFile copies src to dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("netboot: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("netboot: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("netboot: copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("netboot: %w", err)
	}
	return nil
}
