package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Table entry layout (qcow2.txt, "Cluster mapping").
const (
	// offsetMask selects bits 9-55: the host offset of an L2 table (in an
	// L1 entry) or of a standard data cluster (in an L2 entry).
	offsetMask = 0x00fffffffffffe00
	// l1Reserved are the bits of an L1 entry that must be zero.
	l1Reserved = 0x7f000000000001ff
	// l2Compressed marks an L2 entry as a compressed cluster descriptor.
	l2Compressed = 1 << 62
	// l2Zero marks a standard cluster as reading all zeros (version 3).
	l2Zero = 1 << 0
	// sector is the unit compressed cluster lengths are counted in.
	sector = 512
)

// Cache sizes: enough L2 tables to walk a file system's metadata without
// rereading them, and a few decompressed clusters so that reading 4 KiB
// blocks of a compressed 64 KiB cluster decompresses it once.
const (
	l2CacheSize      = 32
	clusterCacheSize = 4
)

// Image is an open qcow2 image. Its ReadAt presents the virtual disk and is
// safe for concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	h        header
	cs       uint64 // cluster size in bytes
	l1       []uint64

	mu sync.Mutex
	// l2 caches L2 tables by L1 index; guarded by mu.
	l2 lru
	// clusters caches decompressed clusters by virtual cluster; guarded by mu.
	clusters lru
	// dec decompresses clusters; guarded by mu.
	dec decompressor
}

// Open reads and checks the header and L1 table of the qcow2 image in r,
// which is size bytes long. See the package comment for what it refuses.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative file size", ErrCorrupt)
	}
	buf := make([]byte, min(size, 1<<minClusterBits))
	if _, err := r.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("qcow2: read header: %w", err)
	}
	h, err := parseHeader(buf, size)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, fileSize: size, h: h, cs: 1 << h.ClusterBits}
	if uint64(h.HeaderLength) > img.cs {
		return nil, fmt.Errorf("%w: header length %d exceeds the cluster size", ErrCorrupt, h.HeaderLength)
	}
	raw := make([]byte, uint64(h.L1Size)*8)
	if _, err := r.ReadAt(raw, int64(h.L1TableOffset)); err != nil && len(raw) > 0 {
		return nil, fmt.Errorf("%w: read L1 table: %v", ErrCorrupt, err)
	}
	img.l1 = make([]uint64, h.L1Size)
	for i := range img.l1 {
		img.l1[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	img.l2 = newLRU(l2CacheSize)
	img.clusters = newLRU(clusterCacheSize)
	img.dec = decompressor{kind: h.CompressionType}
	return img, nil
}

// Size returns the virtual disk's size in bytes.
func (img *Image) Size() int64 { return int64(img.h.Size) }

// ClusterSize returns the image's cluster size in bytes.
func (img *Image) ClusterSize() int { return int(img.cs) }

// Version returns the qcow2 version, 2 or 3.
func (img *Image) Version() int { return int(img.h.Version) }

// clusterKind says how one virtual cluster is stored.
type clusterKind int

const (
	kindUnallocated clusterKind = iota // reads zeros (there is no backing file)
	kindZero                           // explicitly zero
	kindData                           // a standard cluster at host offset off
	kindCompressed                     // n compressed bytes at host offset off
)

// mapping is where one virtual cluster lives in the file.
type mapping struct {
	kind clusterKind
	off  uint64
	n    uint64
}

// lookup maps virtual cluster vc to the file, reading its L2 table if needed.
func (img *Image) lookup(vc uint64) (mapping, error) {
	perL2 := img.cs / 8
	l1i := vc / perL2
	if l1i >= uint64(len(img.l1)) {
		return mapping{}, fmt.Errorf("%w: cluster %d beyond the L1 table", ErrCorrupt, vc)
	}
	table, err := img.l2Table(l1i)
	if err != nil || table == nil {
		return mapping{}, err
	}
	return img.decodeL2(binary.BigEndian.Uint64(table[8*(vc%perL2):]), vc)
}

// l2Table returns L1 entry l1i's L2 table as raw big-endian bytes, or nil
// when the entry is unallocated.
func (img *Image) l2Table(l1i uint64) ([]byte, error) {
	e := img.l1[l1i]
	if e&l1Reserved != 0 {
		return nil, fmt.Errorf("%w: L1 entry %d has reserved bits set (%#x)", ErrCorrupt, l1i, e)
	}
	off := e & offsetMask
	if off == 0 {
		return nil, nil
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	if t := img.l2.get(l1i); t != nil {
		return t, nil
	}
	if err := img.checkCluster(off, "L2 table"); err != nil {
		return nil, err
	}
	t := make([]byte, img.cs)
	if _, err := img.r.ReadAt(t, int64(off)); err != nil {
		return nil, fmt.Errorf("%w: read L2 table at %#x: %v", ErrCorrupt, off, err)
	}
	img.l2.put(l1i, t)
	return t, nil
}

// checkCluster refuses a host cluster offset that is unaligned, inside the
// header cluster, or past the end of the file.
func (img *Image) checkCluster(off uint64, what string) error {
	switch {
	case off%img.cs != 0:
		return fmt.Errorf("%w: %s offset %#x is not cluster aligned", ErrCorrupt, what, off)
	case off == 0:
		return fmt.Errorf("%w: %s at offset 0 overlaps the header", ErrCorrupt, what)
	case off > uint64(img.fileSize) || img.cs > uint64(img.fileSize)-off:
		return fmt.Errorf("%w: %s at %#x lies past the end of the %d-byte file (truncated?)", ErrCorrupt, what, off, img.fileSize)
	}
	return nil
}

// decodeL2 decodes one L2 entry for virtual cluster vc.
func (img *Image) decodeL2(e, vc uint64) (mapping, error) {
	if e&l2Compressed != 0 {
		// Compressed cluster descriptor: x = 62 - (cluster_bits - 8) bits
		// of host offset, then the count of additional 512-byte sectors.
		x := 62 - (img.h.ClusterBits - 8)
		off := e & (1<<x - 1)
		extra := (e >> x) & (1<<(62-x) - 1)
		n := (extra+1)*sector - off%sector
		if off >= uint64(img.fileSize) || off < uint64(img.h.HeaderLength) {
			return mapping{}, fmt.Errorf("%w: compressed cluster %d at %#x outside the %d-byte file", ErrCorrupt, vc, off, img.fileSize)
		}
		// The last sector of the file may be short.
		n = min(n, uint64(img.fileSize)-off)
		return mapping{kind: kindCompressed, off: off, n: n}, nil
	}
	if e&l2Zero != 0 {
		if img.h.Version < 3 {
			return mapping{}, fmt.Errorf("%w: zero flag on cluster %d in a version 2 image", ErrCorrupt, vc)
		}
		return mapping{kind: kindZero}, nil
	}
	off := e & offsetMask
	if off == 0 {
		return mapping{kind: kindUnallocated}, nil
	}
	if err := img.checkCluster(off, fmt.Sprintf("data cluster %d", vc)); err != nil {
		return mapping{}, err
	}
	return mapping{kind: kindData, off: off}, nil
}

// ReadAt reads len(p) bytes of the virtual disk at off. It returns io.EOF
// when the read reaches the end of the disk, like a file.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: negative offset %d", off)
	}
	size := img.Size()
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	done := 0
	for done < len(p) && off < size {
		vc, in := uint64(off)>>img.h.ClusterBits, uint64(off)&(img.cs-1)
		n := min(uint64(len(p)-done), img.cs-in, uint64(size-off))
		if err := img.readCluster(p[done:done+int(n)], vc, in); err != nil {
			return done, err
		}
		done += int(n)
		off += int64(n)
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// readCluster fills p from virtual cluster vc starting at byte in.
func (img *Image) readCluster(p []byte, vc, in uint64) error {
	m, err := img.lookup(vc)
	if err != nil {
		return err
	}
	switch m.kind {
	case kindData:
		if _, err := img.r.ReadAt(p, int64(m.off+in)); err != nil {
			return fmt.Errorf("%w: read cluster %d: %v", ErrCorrupt, vc, err)
		}
	case kindCompressed:
		c, err := img.decompressed(vc, m)
		if err != nil {
			return err
		}
		copy(p, c[in:])
	default:
		clear(p)
	}
	return nil
}

// decompressed returns virtual cluster vc, stored compressed as m, from the
// cache or by reading and decompressing it.
func (img *Image) decompressed(vc uint64, m mapping) ([]byte, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if c := img.clusters.get(vc); c != nil {
		return c, nil
	}
	src := make([]byte, m.n)
	if _, err := img.r.ReadAt(src, int64(m.off)); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: read compressed cluster %d: %v", ErrCorrupt, vc, err)
	}
	c := make([]byte, img.cs)
	if err := img.dec.decompress(c, src); err != nil {
		return nil, fmt.Errorf("%w: cluster %d: %v", ErrCorrupt, vc, err)
	}
	img.clusters.put(vc, c)
	return c, nil
}
