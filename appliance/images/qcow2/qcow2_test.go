package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// open opens img (the bytes of a qcow2 file) or fails the test.
func open(t *testing.T, img []byte) *Image {
	t.Helper()
	q, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return q
}

// sampleBuilder returns an image spanning three L2 tables (512-byte
// clusters map 32 KiB per table) with data, zero, compressed and
// unallocated clusters, and the raw disk it must read as.
func sampleBuilder(v uint32, comp uint8) (*builder, []byte) {
	b := newBuilder(v, 100*1024+100) // last cluster partial
	b.compression = comp
	raw := make([]byte, b.size)
	put := func(vc uint64, c cluster) {
		b.clusters[vc] = c
		if !c.zero {
			copy(raw[vc*512:], c.data)
		}
	}
	put(0, cluster{data: pattern(1, 512)})
	put(3, cluster{data: pattern(2, 512), compressed: true})
	put(64, cluster{data: pattern(3, 200)}) // second L2 table, short data
	put(65, cluster{data: pattern(4, 512), compressed: true})
	put(150, cluster{data: make([]byte, 512)}) // allocated, all zeros
	put(200, cluster{data: pattern(5, 100)})   // the partial last cluster
	if v >= 3 {
		put(4, cluster{zero: true})
	}
	return b, raw
}

func TestReadAtMatchesRaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    uint32
		comp uint8
	}{{"v2", 2, CompressDeflate}, {"v3", 3, CompressDeflate}, {"v3-zstd", 3, CompressZstd}} {
		t.Run(tc.name, func(t *testing.T) {
			b, raw := sampleBuilder(tc.v, tc.comp)
			q := open(t, b.bytes())
			if q.Size() != int64(len(raw)) || q.Version() != int(tc.v) || q.ClusterSize() != 512 {
				t.Fatalf("size %d version %d cluster %d", q.Size(), q.Version(), q.ClusterSize())
			}
			got := make([]byte, len(raw))
			if n, err := q.ReadAt(got, 0); n != len(raw) || err != nil {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatal("virtual disk differs from the raw disk")
			}
			// Unaligned reads across cluster and L2-table boundaries.
			for _, off := range []int64{1, 511, 1500, 32*1024 - 7, 65*512 + 3} {
				p := make([]byte, 1000)
				if _, err := q.ReadAt(p, off); err != nil {
					t.Fatalf("ReadAt(%d): %v", off, err)
				}
				if !bytes.Equal(p, raw[off:off+1000]) {
					t.Fatalf("ReadAt(%d) differs", off)
				}
			}
			p := make([]byte, 10)
			if n, err := q.ReadAt(p, int64(len(raw))-4); n != 4 || err != io.EOF {
				t.Fatalf("read past the end = %d, %v; want 4, EOF", n, err)
			}
		})
	}
}

func TestWriteRawIsSparseAndEqual(t *testing.T) {
	b, raw := sampleBuilder(3, CompressDeflate)
	q := open(t, b.bytes())
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []int64
	err = q.WriteRaw(context.Background(), f, func(done, total int64) {
		if total != q.Size() || done > total {
			t.Errorf("progress(%d, %d)", done, total)
		}
		calls = append(calls, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != q.Size() {
		t.Fatalf("progress calls %v do not end at %d", calls, q.Size())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatal("raw file differs from the virtual disk")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	// Five data clusters were written; the rest must be holes. File
	// systems allocate in 4 KiB blocks, so allow one block per cluster.
	if used := st.Blocks * 512; used > 5*4096 {
		t.Errorf("raw file uses %d bytes on disk; want at most %d (sparse)", used, 5*4096)
	}
}

func TestWriteRawStopsOnCancel(t *testing.T) {
	b, _ := sampleBuilder(3, CompressDeflate)
	q := open(t, b.bytes())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.WriteRaw(ctx, &memWriter{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteRaw after cancel = %v", err)
	}
}

// memWriter is a RawWriter that keeps what is written in memory.
type memWriter struct{ b []byte }

func (m *memWriter) Truncate(n int64) error { m.b = make([]byte, n); return nil }

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("write outside the file")
	}
	return copy(m.b[off:], p), nil
}

func TestOpenRefuses(t *testing.T) {
	be := binary.BigEndian
	good := func() *builder { b, _ := sampleBuilder(3, CompressDeflate); return b }
	cases := []struct {
		name  string
		build func() []byte
		want  error
	}{
		{"not qcow2", func() []byte { return make([]byte, 4096) }, ErrNotQcow2},
		{"empty", func() []byte { return nil }, ErrNotQcow2},
		{"version 4", patched(good, func(img []byte) { be.PutUint32(img[4:], 4) }), ErrUnsupported},
		{"backing file", patched(good, func(img []byte) { be.PutUint64(img[8:], 0x200); be.PutUint32(img[16:], 4) }), ErrUnsupported},
		{"encrypted", patched(good, func(img []byte) { be.PutUint32(img[32:], 2) }), ErrUnsupported},
		{"external data file", patched(good, func(img []byte) { be.PutUint64(img[72:], incompatExternalData) }), ErrUnsupported},
		{"extended L2", patched(good, func(img []byte) { be.PutUint64(img[72:], incompatExtendedL2) }), ErrUnsupported},
		{"unknown feature", patched(good, func(img []byte) { be.PutUint64(img[72:], 1<<40) }), ErrUnsupported},
		{"marked corrupt", patched(good, func(img []byte) { be.PutUint64(img[72:], incompatCorrupt) }), ErrCorrupt},
		{"cluster bits 30", patched(good, func(img []byte) { be.PutUint32(img[20:], 30) }), ErrCorrupt},
		{"L1 too small", patched(good, func(img []byte) { be.PutUint32(img[36:], 1) }), ErrCorrupt},
		{"L1 past the end", patched(good, func(img []byte) { be.PutUint64(img[40:], 1<<40) }), ErrCorrupt},
		{"L1 unaligned", patched(good, func(img []byte) { be.PutUint64(img[40:], 513) }), ErrCorrupt},
		{"header truncated", func() []byte { return good().bytes()[:90] }, ErrCorrupt},
		{"huge size", patched(good, func(img []byte) { be.PutUint64(img[24:], 1<<62) }), ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.build()
			_, err := Open(bytes.NewReader(img), int64(len(img)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

// patched returns a build function that applies fn to b's image.
func patched(b func() *builder, fn func([]byte)) func() []byte {
	return func() []byte {
		bb := b()
		bb.patch = fn
		return bb.bytes()
	}
}

func TestDirtyImageReads(t *testing.T) {
	b, raw := sampleBuilder(3, CompressDeflate)
	b.incompat = incompatDirty
	q := open(t, b.bytes())
	got := make([]byte, len(raw))
	if _, err := q.ReadAt(got, 0); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("dirty image: %v", err)
	}
}

func TestTruncatedImageIsCorrupt(t *testing.T) {
	b, _ := sampleBuilder(3, CompressDeflate)
	img := b.bytes()
	// Cut the file inside the last data cluster: Open succeeds (the L1
	// table is intact) but reading or converting reports corruption.
	img = img[:len(img)-100]
	q := open(t, img)
	if err := q.WriteRaw(context.Background(), &memWriter{}, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("WriteRaw of a truncated image = %v, want ErrCorrupt", err)
	}
}

func TestCorruptTablesAreRefused(t *testing.T) {
	b, raw := sampleBuilder(2, CompressDeflate)
	img := b.bytes()
	l2 := binary.BigEndian.Uint64(img[512:]) & offsetMask
	cases := map[string]func([]byte){
		"L2 table past the end": func(img []byte) { binary.BigEndian.PutUint64(img[512:], 1<<50) },
		"L1 reserved bits":      func(img []byte) { binary.BigEndian.PutUint64(img[512:], l2+8) },
		"data past the end":     func(img []byte) { binary.BigEndian.PutUint64(img[l2:], 1<<45) },
		"data over the header":  func(img []byte) { binary.BigEndian.PutUint64(img[l2:], 1<<63|0) },
		"zero flag in v2":       func(img []byte) { binary.BigEndian.PutUint64(img[l2:], 1) },
		"compressed past end":   func(img []byte) { binary.BigEndian.PutUint64(img[l2:], l2Compressed|1<<40) },
		"compressed garbage":    func(img []byte) { binary.BigEndian.PutUint64(img[l2:], l2Compressed|0x200) },
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(img)
			fn(bad)
			q := open(t, bad)
			p := make([]byte, len(raw))
			_, err := q.ReadAt(p, 0)
			if name == "data over the header" {
				// An entry with only the copied flag set is unallocated.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadAt = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestConcurrentReads(t *testing.T) {
	b, raw := sampleBuilder(3, CompressDeflate)
	q := open(t, b.bytes())
	done := make(chan error)
	for g := range 4 {
		go func() {
			p := make([]byte, 700)
			for off := int64(g * 13); off+700 <= int64(len(raw)); off += 997 {
				if _, err := q.ReadAt(p, off); err != nil {
					done <- err
					return
				}
				if !bytes.Equal(p, raw[off:off+700]) {
					done <- errors.New("concurrent read differs")
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
