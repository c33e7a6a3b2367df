package qcow2

import (
	"bytes"
	"context"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the header and table parser, then
// reads the virtual disk and converts it. Nothing may panic, allocate
// without bound, or write outside the virtual disk.
func FuzzOpen(f *testing.F) {
	for _, v := range []uint32{2, 3} {
		b, _ := sampleBuilder(v, CompressDeflate)
		f.Add(b.bytes())
	}
	b, _ := sampleBuilder(3, CompressZstd)
	f.Add(b.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		p := make([]byte, 4096)
		for _, off := range []int64{0, img.Size() / 2, img.Size() - 100} {
			img.ReadAt(p, off)
		}
		if img.Size() > 1<<20 {
			// Converting is bounded by the file's tables, but keep the
			// fake disk the writer allocates small.
			img.WriteRaw(context.Background(), discard{size: img.Size()}, nil)
			return
		}
		img.WriteRaw(context.Background(), &memWriter{}, nil)
	})
}

// discard is a RawWriter that checks bounds and keeps nothing.
type discard struct{ size int64 }

func (d discard) Truncate(int64) error { return nil }

func (d discard) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > d.size {
		panic("write outside the virtual disk")
	}
	return len(p), nil
}
