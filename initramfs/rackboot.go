package initramfs

import (
	"fmt"
	"path/filepath"
)

// addRackBoot adds what rack bootstrap serves (see
// ApplianceOptions.Kernel and IPXE): the kernel as /boot/vmlinuz and the
// iPXE binaries under /lib/ironvisor/ipxe.
func addRackBoot(b *Builder, o ApplianceOptions) error {
	if o.Kernel != "" {
		if !isFile(o.Kernel) {
			return fmt.Errorf("appliance image: kernel %s: not a file", o.Kernel)
		}
		if err := b.Add(Dir("/boot", 0o755), HostFile("/boot/vmlinuz", 0o644, o.Kernel)); err != nil {
			return err
		}
	}
	if len(o.IPXE) == 0 {
		return nil
	}
	if err := b.Add(Dir("/lib/ironvisor", 0o755), Dir("/lib/ironvisor/ipxe", 0o755)); err != nil {
		return err
	}
	for _, p := range o.IPXE {
		if err := b.Add(HostFile("/lib/ironvisor/ipxe/"+filepath.Base(p), 0o644, p)); err != nil {
			return err
		}
	}
	return nil
}
