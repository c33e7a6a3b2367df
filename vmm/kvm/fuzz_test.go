package kvm

import (
	"encoding/binary"
	"testing"
)

// FuzzExitDecode fills a kvm_run area with the fuzzer's bytes (its size
// one page or two, as KVM_GET_VCPU_MMAP_SIZE may answer) and decodes it the
// way the VMM's exit loop does, whatever the exit reason says: no decoder
// may panic or hand out bytes outside the run area, whatever the offsets,
// sizes and counts in it.
func FuzzExitDecode(f *testing.F) {
	io := make([]byte, 64)
	binary.LittleEndian.PutUint32(io[runExitReason:], uint32(ExitIO))
	io[runIOSize] = 1
	binary.LittleEndian.PutUint32(io[runIOCount:], 2)
	binary.LittleEndian.PutUint64(io[runIODataOffset:], 4094)
	f.Add(io, false)
	mmio := make([]byte, 64)
	binary.LittleEndian.PutUint32(mmio[runExitReason:], uint32(ExitMMIO))
	binary.LittleEndian.PutUint32(mmio[runMMIOLen:], 1000)
	f.Add(mmio, true)
	f.Fuzz(func(t *testing.T, area []byte, twoPages bool) {
		size := 4096
		if twoPages {
			size = 8192
		}
		c := &VCPU{run: make([]byte, size)}
		copy(c.run, area)
		_ = ExitReason(binary.LittleEndian.Uint32(c.run[runExitReason:])).String()
		if e, err := c.IO(); err == nil {
			if n := int(e.Size) * int(e.Count); len(e.Data) != n || !inside(c.run, e.Data) {
				t.Fatalf("io data of %d bytes for size %d count %d, or outside the run area", len(e.Data), e.Size, e.Count)
			}
		}
		if e := c.MMIO(); len(e.Data) > 8 || !inside(c.run, e.Data) {
			t.Fatalf("mmio data of %d bytes", len(e.Data))
		}
		_ = c.SystemEvent().String()
		_ = c.FailEntryReason()
		_ = c.InternalSuberror()
	})
}

// inside reports whether sub is a slice of run (an empty one always is).
func inside(run, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := range run {
		if &run[i] == &sub[0] {
			return i+len(sub) <= len(run)
		}
	}
	return false
}
