package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"

	"github.com/klauspost/compress/zstd"
)

// cluster is one virtual cluster a test image holds.
type cluster struct {
	data       []byte // contents, zero-padded to the cluster size
	zero       bool   // stored as a v3 zero cluster
	compressed bool   // stored compressed with the image's compression type
}

// builder writes small qcow2 images by hand (qcow2.txt): a header in
// cluster 0, the L1 table in cluster 1, then L2 tables and data clusters,
// each cluster aligned. It writes no refcount table, which readers ignore.
type builder struct {
	version     uint32
	clusterBits uint32
	size        uint64
	compression uint8 // CompressDeflate or CompressZstd (v3 only)
	incompat    uint64
	clusters    map[uint64]cluster
	// patch, if set, edits the finished header before it is returned.
	patch func(img []byte)
}

// newBuilder returns a builder for a version v image of size bytes with
// 512-byte clusters, so that tests span several L2 tables cheaply.
func newBuilder(v uint32, size uint64) *builder {
	return &builder{version: v, clusterBits: 9, size: size, clusters: map[uint64]cluster{}}
}

// bytes returns the image.
func (b *builder) bytes() []byte {
	cs := uint64(1) << b.clusterBits
	perL2 := cs / 8
	l1Size := (b.size + cs*perL2 - 1) / (cs * perL2)
	l1Clusters := max(1, (l1Size*8+cs-1)/cs)
	img := make([]byte, cs*(1+l1Clusters))
	alloc := func(n uint64) uint64 {
		if r := uint64(len(img)) % cs; r != 0 {
			img = append(img, make([]byte, cs-r)...)
		}
		off := uint64(len(img))
		img = append(img, make([]byte, (n+cs-1)/cs*cs)...)
		return off
	}
	l2 := map[uint64]uint64{}
	for vc := uint64(0); vc*cs < b.size; vc++ {
		c, ok := b.clusters[vc]
		if !ok {
			continue
		}
		l1i := vc / perL2
		if l2[l1i] == 0 {
			l2[l1i] = alloc(cs)
			binary.BigEndian.PutUint64(img[cs+8*l1i:], l2[l1i]|1<<63)
		}
		e := b.l2Entry(c, alloc, &img) // may grow img: evaluate first
		binary.BigEndian.PutUint64(img[l2[l1i]+8*(vc%perL2):], e)
	}
	b.header(img, l1Size)
	if b.patch != nil {
		b.patch(img)
	}
	return img
}

// l2Entry stores c's data and returns its L2 entry.
func (b *builder) l2Entry(c cluster, alloc func(uint64) uint64, img *[]byte) uint64 {
	cs := uint64(1) << b.clusterBits
	data := make([]byte, cs)
	copy(data, c.data)
	switch {
	case c.zero:
		return l2Zero
	case c.compressed:
		z := b.compress(data)
		off := alloc(uint64(len(z))) + 3 // deliberately not sector aligned
		*img = append(*img, make([]byte, 3)...)
		copy((*img)[off:], z)
		x := 62 - (b.clusterBits - 8)
		extra := (off%sector + uint64(len(z)) - 1) / sector
		return l2Compressed | extra<<x | off
	}
	off := alloc(cs)
	copy((*img)[off:], data)
	return off | 1<<63
}

// compress compresses one cluster as QEMU does.
func (b *builder) compress(data []byte) []byte {
	var buf bytes.Buffer
	if b.compression == CompressZstd {
		enc, _ := zstd.NewWriter(nil)
		return enc.EncodeAll(data, nil)
	}
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

// header writes the header into img's first cluster.
func (b *builder) header(img []byte, l1Size uint64) {
	be := binary.BigEndian
	cs := uint64(1) << b.clusterBits
	be.PutUint32(img[0:], Magic)
	be.PutUint32(img[4:], b.version)
	be.PutUint32(img[20:], b.clusterBits)
	be.PutUint64(img[24:], b.size)
	be.PutUint32(img[36:], uint32(l1Size))
	be.PutUint64(img[40:], cs)
	if b.version >= 3 {
		incompat := b.incompat
		if b.compression != CompressDeflate {
			incompat |= incompatCompressType
		}
		be.PutUint64(img[72:], incompat)
		be.PutUint32(img[96:], 4)
		be.PutUint32(img[100:], 112)
		img[104] = b.compression
	}
}

// pattern returns n bytes of a recognisable pattern seeded by seed.
func pattern(seed byte, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i/251)
	}
	return p
}
