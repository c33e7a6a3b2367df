package cli

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/devices/rng"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/virtio/virtiotest"
)

// TestGuestLogFloodIsBounded: a guest that writes, a million times, the
// MMIO registers that make the transport warn (features it was never
// offered; FEATURES_OK without VERSION_1) leaves a few lines in the VMM's
// log, not a million.
func TestGuestLogFloodIsBounded(t *testing.T) {
	var buf bytes.Buffer
	m := virtio.NewMMIO(rng.New(rng.Options{}), &virtiotest.Interrupt{})
	m.SetLogger(newLog(&buf))
	w := func(off uint64, v uint32) {
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], v)
		m.Write(off, d[:])
	}
	for range 500_000 {
		w(0x070, 0)
		w(0x070, virtio.StatusAcknowledge|virtio.StatusDriver)
		w(0x024, 0)
		w(0x020, 0xffffffff) // bits never offered
		w(0x070, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	}
	if buf.Len() > 16<<10 {
		t.Fatalf("a guest flood wrote %d bytes to the VMM's log", buf.Len())
	}
	if buf.Len() == 0 {
		t.Fatal("nothing logged at all")
	}
}
