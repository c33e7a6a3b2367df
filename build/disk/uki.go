// Package disk builds the UEFI boot path of real iron: a unified kernel
// image (UKI: systemd-boot's EFI stub with the kernel, initrd and command
// line as PE sections), an EFI system partition (FAT, via mtools) holding
// it at \EFI\BOOT\BOOTX64.EFI, and a GPT disk image around that partition
// that OVMF (or any UEFI firmware) boots without a boot entry.
package disk

import (
	"context"
	"debug/pe"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/slots"
)

// DefaultStub is systemd-boot-efi's Linux EFI stub on Debian.
const DefaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// UKIOptions describe a unified kernel image.
type UKIOptions struct {
	// Stub is the EFI stub; "" means DefaultStub.
	Stub string
	// Kernel is the bzImage. Required.
	Kernel string
	// Initrd is the initrd archive; "" means none.
	Initrd string
	// Cmdline is the kernel command line; "" means "console=ttyS0".
	Cmdline string
	// Version goes into the .osrel section (slots.OSRelease), which
	// systemd-boot needs to list the UKI and /v1/host shows; "" means
	// "dev".
	Version string
}

// pageSize aligns the added sections, as the stub maps them page-wise.
const pageSize = 4096

// alignUp rounds n up to a multiple of a (a power of two).
func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// section is one PE section to add with objcopy.
type section struct {
	name string
	file string
	vma  uint64
}

// layoutSections places the sections one after another from the first page
// boundary after the stub's SizeOfImage. Each VMA includes ImageBase, as
// objcopy expects. The systemd stub finds them by name (src/boot/efi/stub.c).
func layoutSections(imageBase, sizeOfImage uint64, files []section) ([]section, error) {
	next := alignUp(sizeOfImage, pageSize)
	out := make([]section, len(files))
	for i, s := range files {
		st, err := os.Stat(s.file)
		if err != nil {
			return nil, fmt.Errorf("uki section %s: %w", s.name, err)
		}
		s.vma = imageBase + next
		out[i] = s
		next = alignUp(next+uint64(st.Size()), pageSize)
	}
	return out, nil
}

// stubGeometry returns the stub's ImageBase and SizeOfImage (PE32+ optional
// header, PE/COFF specification section 3.4).
func stubGeometry(stub string) (imageBase, sizeOfImage uint64, err error) {
	f, err := pe.Open(stub)
	if err != nil {
		return 0, 0, fmt.Errorf("uki stub %s: %w", stub, err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return 0, 0, fmt.Errorf("uki stub %s: not a PE32+ image", stub)
	}
	return oh.ImageBase, uint64(oh.SizeOfImage), nil
}

// BuildUKI writes the unified kernel image to out with objcopy.
func BuildUKI(ctx context.Context, out string, o UKIOptions) error {
	if o.Kernel == "" {
		return fmt.Errorf("uki: no kernel")
	}
	if o.Stub == "" {
		o.Stub = DefaultStub
	}
	if o.Cmdline == "" {
		o.Cmdline = "console=ttyS0"
	}
	base, size, err := stubGeometry(o.Stub)
	if err != nil {
		return err
	}
	cmdline := filepath.Join(filepath.Dir(out), ".cmdline-"+filepath.Base(out))
	if err := os.WriteFile(cmdline, []byte(o.Cmdline+"\x00"), 0o644); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	defer os.Remove(cmdline)
	if o.Version == "" {
		o.Version = "dev"
	}
	osrel := filepath.Join(filepath.Dir(out), ".osrel-"+filepath.Base(out))
	if err := os.WriteFile(osrel, []byte(slots.OSRelease(o.Version)), 0o644); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	defer os.Remove(osrel)
	files := []section{{name: ".osrel", file: osrel}, {name: ".cmdline", file: cmdline}, {name: ".linux", file: o.Kernel}}
	if o.Initrd != "" {
		files = append(files, section{name: ".initrd", file: o.Initrd})
	}
	secs, err := layoutSections(base, size, files)
	if err != nil {
		return err
	}
	var args []string
	for _, s := range secs {
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", fmt.Sprintf("%s=%#x", s.name, s.vma))
	}
	args = append(args, o.Stub, out)
	if b, err := exec.CommandContext(ctx, "objcopy", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("uki: objcopy: %w: %s", err, b)
	}
	return nil
}
