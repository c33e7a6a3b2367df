package datadisk

import (
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// ESPDevice returns the device of the EFI system partition on the disk
// that carries f, the data partition: the disk image's own ESP, where the
// boot slots live. It is "" when that disk has none, or the kernel does
// not list it.
func ESPDevice(sysBlock, dev string, f Found) string {
	for _, p := range f.Table.Partitions {
		if p.Type == gpt.TypeESP {
			return partitionDevice(sysBlock, dev, filepath.Base(f.Disk), p.Index)
		}
	}
	return ""
}
