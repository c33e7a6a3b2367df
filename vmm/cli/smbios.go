package cli

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot/smbios"
)

// smbiosInfo turns the --smbios-* flags into what the SMBIOS tables say,
// refusing a malformed UUID or a string the tables cannot hold.
func smbiosInfo(f vmmFlags) (smbios.Info, error) {
	info := smbios.Info{Serial: f.smbiosSerial, AssetTag: f.smbiosAssetTag, Product: f.smbiosProduct}
	if f.smbiosUUID != "" {
		u, err := smbios.ParseUUID(f.smbiosUUID)
		if err != nil {
			return info, fmt.Errorf("--smbios-uuid: %w", err)
		}
		info.UUID = u
	}
	if _, _, err := smbios.Build(info, 0); err != nil {
		return info, fmt.Errorf("--smbios-*: %w", err)
	}
	return info, nil
}
