package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/slots"
)

// BootPath is where UEFI firmware looks for a removable medium's loader on
// x86-64 (UEFI 2.10, section 3.5.1.1). The boot disk puts systemd-boot
// there.
const BootPath = "/EFI/BOOT/BOOTX64.EFI"

// DefaultLoader is systemd-boot-efi's boot loader on Debian.
const DefaultLoader = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// LoaderConf is systemd-boot's configuration on the ESP.
const LoaderConf = "/loader/loader.conf"

// loaderConf boots at once (no menu) and names no default entry, so that
// systemd-boot boots the first of its sorted entries: the newest slot
// with tries left or none counted, and an entry whose tries ran out only
// when nothing else is left (package slots).
const loaderConf = "timeout 0\neditor no\nauto-entries no\nauto-firmware no\n"

// SlotRoom is how many UKIs of the first one's size the ESP has room
// for: two slots, and a third for a larger next build and the temporary
// file an update writes before it replaces the other slot.
const SlotRoom = 3

// BuildBootDisk writes a GPT disk image to out whose EFI system partition
// holds systemd-boot at BootPath, its LoaderConf, and a UKI made from o as
// slot A, generation 1, already good (slots.Name(slots.A, 1, -1) in
// slots.Dir), with room for the second slot. Temporary files go next to
// out.
func BuildBootDisk(ctx context.Context, out string, o UKIOptions) error {
	dir := filepath.Dir(out)
	uki := filepath.Join(dir, filepath.Base(out)+".uki.efi")
	esp := filepath.Join(dir, filepath.Base(out)+".esp.img")
	conf := filepath.Join(dir, filepath.Base(out)+".loader.conf")
	defer os.Remove(uki)
	defer os.Remove(esp)
	defer os.Remove(conf)
	if err := BuildUKI(ctx, uki, o); err != nil {
		return err
	}
	if err := os.WriteFile(conf, []byte(loaderConf), 0o644); err != nil {
		return fmt.Errorf("boot disk: %w", err)
	}
	st, err := os.Stat(uki)
	if err != nil {
		return fmt.Errorf("boot disk: %w", err)
	}
	files := map[string]string{
		BootPath:   DefaultLoader,
		LoaderConf: conf,
		"/" + slots.Dir + "/" + slots.Name(slots.A, 1, -1): uki,
	}
	if err := BuildESP(ctx, esp, files, (SlotRoom-1)*st.Size()); err != nil {
		return err
	}
	if err := WriteGPTDisk(out, esp); err != nil {
		return fmt.Errorf("boot disk: %w", err)
	}
	return nil
}
