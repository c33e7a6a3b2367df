package vm

import "github.com/ironvisor/ironvisor/vmm/boot/smbios"

// buildSMBIOS writes the SMBIOS tables that name the machine and the
// instance (Config.SMBIOS) into the reserved BIOS area.
func (v *VM) buildSMBIOS() error {
	return smbios.Write(v.mem, v.cfg.SMBIOS)
}
