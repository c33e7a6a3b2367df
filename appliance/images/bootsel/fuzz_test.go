package bootsel

import (
	"bytes"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/gpt"
)

// FuzzFind runs the whole chain, GPT to ext4 to kernel discovery, on
// arbitrary disks seeded with a small cloud-image layout. Nothing may
// panic, and what is found must be readable within the limits.
func FuzzFind(f *testing.F) {
	f.Add(disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(f, debianTree())))
	f.Add(fsImage(f, debianTree()))
	f.Fuzz(func(t *testing.T, d []byte) {
		b, err := Find(bytes.NewReader(d), int64(len(d)), Options{MaxKernel: 1 << 20, MaxInitrd: 1 << 20})
		if err != nil {
			return
		}
		if b.Kernel.Size() > 1<<20 || b.Initrd != nil && b.Initrd.Size() > 1<<20 {
			t.Fatalf("sizes over the limit: %d", b.Kernel.Size())
		}
		p := make([]byte, 512)
		b.Kernel.ReadAt(p, 0)
	})
}
