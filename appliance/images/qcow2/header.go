// Package qcow2 reads QEMU's qcow2 disk image format (QEMU
// docs/interop/qcow2.txt), versions 2 and 3, so that a distribution's cloud
// image can be served as a virtual disk or converted to a sparse raw file.
//
// Every image is hostile. Open checks the header, the L1 table and every
// offset before it is used: an image whose tables point outside the file, at
// the header, or at unaligned clusters is refused with ErrCorrupt, and one
// that needs something this reader does not do (a backing file, encryption,
// an external data file, extended L2 entries, an unknown incompatible
// feature) is refused with ErrUnsupported. Nothing here panics on bad bytes
// and nothing holds more than the L1 table, a few L2 tables and one cluster
// in memory.
//
// Refcounts and snapshots are not read: a reader needs only the active L1
// table, and a "dirty" image (refcounts not yet flushed) reads correctly.
package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors Open and reads wrap. Callers tell a damaged image from an
// unsupported one with errors.Is.
var (
	// ErrNotQcow2 is returned when the magic is not "QFI\xfb".
	ErrNotQcow2 = errors.New("qcow2: not a qcow2 image")
	// ErrCorrupt is returned for an image whose header or tables are
	// inconsistent, or that points outside the file (truncated).
	ErrCorrupt = errors.New("qcow2: corrupt image")
	// ErrUnsupported is returned for a valid image that needs a feature
	// this reader refuses (backing file, encryption, external data file...).
	ErrUnsupported = errors.New("qcow2: unsupported image")
)

// Magic is the first four bytes of every qcow2 image ("QFI\xfb").
const Magic = 0x514649fb

// Limits. Clusters are 512 B to 2 MiB (qcow2.txt, cluster_bits); the L1
// table is bounded as QEMU bounds it (QCOW_MAX_L1_SIZE, 32 MiB), so Open
// never allocates more than that however the header lies.
const (
	minClusterBits = 9
	maxClusterBits = 21
	maxL1Bytes     = 32 << 20
	// maxVirtualSize keeps every offset computation far from overflow.
	maxVirtualSize = 1 << 56
)

// Incompatible feature bits (qcow2.txt, header bytes 72-79).
const (
	incompatDirty        = 1 << 0
	incompatCorrupt      = 1 << 1
	incompatExternalData = 1 << 2
	incompatCompressType = 1 << 3
	incompatExtendedL2   = 1 << 4
)

// Compression types (qcow2.txt, header byte 104).
const (
	CompressDeflate = 0
	CompressZstd    = 1
)

// v2HeaderLen is the fixed length of a version 2 header; version 3 headers
// say their own length (at least 104 bytes).
const (
	v2HeaderLen = 72
	v3HeaderLen = 104
)

// header is the qcow2 image header, all fields big-endian.
//
// This mirrors QCowHeader in QEMU's block/qcow2.h (docs/interop/qcow2.txt,
// "Header").
type header struct {
	Magic                 uint32 // 0
	Version               uint32 // 4
	BackingFileOffset     uint64 // 8
	BackingFileSize       uint32 // 16
	ClusterBits           uint32 // 20
	Size                  uint64 // 24
	CryptMethod           uint32 // 32
	L1Size                uint32 // 36
	L1TableOffset         uint64 // 40
	RefcountTableOffset   uint64 // 48
	RefcountTableClusters uint32 // 56
	NbSnapshots           uint32 // 60
	SnapshotsOffset       uint64 // 64
	// Version 3 only; zero for version 2.
	IncompatibleFeatures uint64 // 72
	CompatibleFeatures   uint64 // 80
	AutoclearFeatures    uint64 // 88
	RefcountOrder        uint32 // 96
	HeaderLength         uint32 // 100
	CompressionType      uint8  // 104, only if HeaderLength > 104
}

// parseHeader decodes and checks b, the first cluster-or-less of the image;
// fileSize is the image file's length. It returns the header or an error
// wrapping ErrNotQcow2, ErrCorrupt or ErrUnsupported.
func parseHeader(b []byte, fileSize int64) (header, error) {
	var h header
	if len(b) < v2HeaderLen {
		return h, fmt.Errorf("%w: %d bytes is shorter than a header", ErrNotQcow2, len(b))
	}
	be := binary.BigEndian
	h.Magic = be.Uint32(b[0:])
	if h.Magic != Magic {
		return h, ErrNotQcow2
	}
	h.Version = be.Uint32(b[4:])
	h.BackingFileOffset = be.Uint64(b[8:])
	h.BackingFileSize = be.Uint32(b[16:])
	h.ClusterBits = be.Uint32(b[20:])
	h.Size = be.Uint64(b[24:])
	h.CryptMethod = be.Uint32(b[32:])
	h.L1Size = be.Uint32(b[36:])
	h.L1TableOffset = be.Uint64(b[40:])
	h.RefcountTableOffset = be.Uint64(b[48:])
	h.RefcountTableClusters = be.Uint32(b[56:])
	h.NbSnapshots = be.Uint32(b[60:])
	h.SnapshotsOffset = be.Uint64(b[64:])
	switch h.Version {
	case 2:
		h.RefcountOrder, h.HeaderLength = 4, v2HeaderLen
	case 3:
		if len(b) < v3HeaderLen {
			return h, fmt.Errorf("%w: version 3 header truncated", ErrCorrupt)
		}
		h.IncompatibleFeatures = be.Uint64(b[72:])
		h.CompatibleFeatures = be.Uint64(b[80:])
		h.AutoclearFeatures = be.Uint64(b[88:])
		h.RefcountOrder = be.Uint32(b[96:])
		h.HeaderLength = be.Uint32(b[100:])
		if h.HeaderLength < v3HeaderLen {
			return h, fmt.Errorf("%w: header length %d < %d", ErrCorrupt, h.HeaderLength, v3HeaderLen)
		}
		if h.HeaderLength > v3HeaderLen {
			if len(b) <= v3HeaderLen {
				return h, fmt.Errorf("%w: header length %d past the data read", ErrCorrupt, h.HeaderLength)
			}
			h.CompressionType = b[104]
		}
	default:
		return h, fmt.Errorf("%w: version %d (want 2 or 3)", ErrUnsupported, h.Version)
	}
	return h, h.check(fileSize)
}

// check validates the header's fields against each other and the file size.
func (h *header) check(fileSize int64) error {
	if h.ClusterBits < minClusterBits || h.ClusterBits > maxClusterBits {
		return fmt.Errorf("%w: cluster_bits %d outside [%d, %d]", ErrCorrupt, h.ClusterBits, minClusterBits, maxClusterBits)
	}
	if h.BackingFileOffset != 0 || h.BackingFileSize != 0 {
		return fmt.Errorf("%w: image has a backing file; flatten it first (qemu-img convert -O qcow2)", ErrUnsupported)
	}
	if h.CryptMethod != 0 {
		return fmt.Errorf("%w: image is encrypted (method %d)", ErrUnsupported, h.CryptMethod)
	}
	if err := h.checkFeatures(); err != nil {
		return err
	}
	if h.Size > maxVirtualSize {
		return fmt.Errorf("%w: virtual size %d is larger than %d", ErrCorrupt, h.Size, uint64(maxVirtualSize))
	}
	cs := uint64(1) << h.ClusterBits
	perL2 := cs / 8
	need := (h.Size + cs*perL2 - 1) / (cs * perL2)
	if uint64(h.L1Size) < need {
		return fmt.Errorf("%w: L1 table has %d entries, virtual size needs %d", ErrCorrupt, h.L1Size, need)
	}
	l1Bytes := uint64(h.L1Size) * 8
	if l1Bytes > maxL1Bytes {
		return fmt.Errorf("%w: L1 table of %d bytes is larger than %d", ErrCorrupt, l1Bytes, maxL1Bytes)
	}
	if h.L1Size > 0 {
		if h.L1TableOffset == 0 || h.L1TableOffset%cs != 0 {
			return fmt.Errorf("%w: L1 table offset %#x is not a nonzero multiple of the cluster size", ErrCorrupt, h.L1TableOffset)
		}
		if h.L1TableOffset > uint64(fileSize) || l1Bytes > uint64(fileSize)-h.L1TableOffset {
			return fmt.Errorf("%w: L1 table [%#x, +%d) lies past the end of the %d-byte file (truncated?)", ErrCorrupt, h.L1TableOffset, l1Bytes, fileSize)
		}
	}
	return nil
}

// checkFeatures refuses incompatible features this reader does not handle.
// Dirty is harmless to a reader (only refcounts may be stale); a compression
// type is handled when it is deflate or zstd.
func (h *header) checkFeatures() error {
	f := h.IncompatibleFeatures
	switch {
	case f&incompatCorrupt != 0:
		return fmt.Errorf("%w: image is marked corrupt by QEMU", ErrCorrupt)
	case f&incompatExternalData != 0:
		return fmt.Errorf("%w: image keeps its data in an external data file", ErrUnsupported)
	case f&incompatExtendedL2 != 0:
		return fmt.Errorf("%w: extended L2 entries (subclusters)", ErrUnsupported)
	}
	known := uint64(incompatDirty | incompatCompressType)
	if rest := f &^ known; rest != 0 {
		return fmt.Errorf("%w: unknown incompatible features %#x", ErrUnsupported, rest)
	}
	if f&incompatCompressType == 0 && h.CompressionType != CompressDeflate {
		return fmt.Errorf("%w: compression type %d without its feature bit", ErrCorrupt, h.CompressionType)
	}
	if h.CompressionType != CompressDeflate && h.CompressionType != CompressZstd {
		return fmt.Errorf("%w: compression type %d", ErrUnsupported, h.CompressionType)
	}
	return nil
}
