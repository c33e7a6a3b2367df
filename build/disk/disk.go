package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// BootPath is where UEFI firmware looks for a removable medium's loader on
// x86-64 (UEFI 2.10, section 3.5.1.1).
const BootPath = "/EFI/BOOT/BOOTX64.EFI"

// BuildBootDisk writes a GPT disk image to out whose EFI system partition
// holds a UKI made from o at BootPath. Temporary files go next to out.
func BuildBootDisk(ctx context.Context, out string, o UKIOptions) error {
	dir := filepath.Dir(out)
	uki := filepath.Join(dir, filepath.Base(out)+".uki.efi")
	esp := filepath.Join(dir, filepath.Base(out)+".esp.img")
	defer os.Remove(uki)
	defer os.Remove(esp)
	if err := BuildUKI(ctx, uki, o); err != nil {
		return err
	}
	if err := BuildESP(ctx, esp, map[string]string{BootPath: uki}); err != nil {
		return err
	}
	if err := WriteGPTDisk(out, esp); err != nil {
		return fmt.Errorf("boot disk: %w", err)
	}
	return nil
}
