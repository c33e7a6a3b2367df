package rack

import (
	"fmt"
	"os"
	"path/filepath"
)

// OVMF firmware from Debian's ovmf package (4 MiB flash layout).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// UEFIDiskArgs returns QEMU arguments (for Options.Extra) that boot the raw
// disk image through OVMF: the firmware read-only, a private copy of the
// variable store written into dir, and the disk on virtio-blk as the first
// boot device.
func UEFIDiskArgs(dir, disk string) ([]string, error) {
	data, err := os.ReadFile(OVMFVars)
	if err != nil {
		return nil, fmt.Errorf("uefi: %w (apt-get install ovmf)", err)
	}
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	if err := os.WriteFile(vars, data, 0o644); err != nil {
		return nil, fmt.Errorf("uefi: %w", err)
	}
	if _, err := os.Stat(OVMFCode); err != nil {
		return nil, fmt.Errorf("uefi: %w (apt-get install ovmf)", err)
	}
	return []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-drive", "if=none,id=disk,format=raw,file=" + disk,
		"-device", "virtio-blk-pci,drive=disk,bootindex=1",
	}, nil
}

// NetBoot sets o to boot from the network: the NIC's iPXE ROM gets DHCP
// and TFTP from QEMU's user network, which serves tftpDir and names
// bootfile (an iPXE script) as the boot file.
func (o *Options) NetBoot(tftpDir, bootfile string) {
	o.Kernel = ""
	o.Boot = "n"
	opt := "tftp=" + tftpDir + ",bootfile=" + bootfile
	if o.UserNet != "" {
		opt = o.UserNet + "," + opt
	}
	o.UserNet = opt
}
