package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// RawWriter is where WriteRaw writes the virtual disk. *os.File is one.
type RawWriter interface {
	io.WriterAt
	Truncate(size int64) error
}

// Progress is called with the bytes of the virtual disk processed so far
// and the disk's size. It is called from WriteRaw's goroutine.
type Progress func(done, total int64)

// progressStep is how many virtual bytes pass between Progress calls.
const progressStep = 32 << 20

// WriteRaw writes the virtual disk to w as a sparse raw image: w is first
// truncated to the disk's size, then only clusters that hold data (and not
// all zeros) are written, so unallocated and zero clusters stay holes.
// Memory use is one cluster plus the L2 table cache, whatever the image's
// size. progress, if not nil, is called every few tens of MiB and at the
// end. WriteRaw stops with ctx's error when ctx is done.
func (img *Image) WriteRaw(ctx context.Context, w RawWriter, progress Progress) error {
	size := img.Size()
	if err := w.Truncate(size); err != nil {
		return fmt.Errorf("qcow2: size raw image: %w", err)
	}
	perL2 := img.cs / 8
	span := img.cs * perL2 // virtual bytes one L2 table maps
	buf := make([]byte, img.cs)
	var last int64
	report := func(done int64, force bool) {
		if progress != nil && (force || done-last >= progressStep) {
			progress(done, size)
			last = done
		}
	}
	for l1i := uint64(0); l1i < uint64(len(img.l1)) && l1i*span < uint64(size); l1i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		table, err := img.l2Table(l1i)
		if err != nil {
			return err
		}
		if table == nil {
			report(min(int64((l1i+1)*span), size), false)
			continue
		}
		for j := uint64(0); j < perL2; j++ {
			vc := l1i*perL2 + j
			voff := vc * img.cs
			if voff >= uint64(size) {
				break
			}
			if err := img.copyCluster(w, buf, vc, binary.BigEndian.Uint64(table[8*j:]), size); err != nil {
				return err
			}
			report(min(int64(voff+img.cs), size), false)
		}
	}
	report(size, true)
	return nil
}

// copyCluster writes virtual cluster vc, described by L2 entry e, to w
// unless it reads as zeros.
func (img *Image) copyCluster(w io.WriterAt, buf []byte, vc, e uint64, size int64) error {
	m, err := img.decodeL2(e, vc)
	if err != nil {
		return err
	}
	voff := vc * img.cs
	n := min(img.cs, uint64(size)-voff)
	switch m.kind {
	case kindData:
		if _, err := img.r.ReadAt(buf[:n], int64(m.off)); err != nil {
			return fmt.Errorf("%w: read cluster %d: %v", ErrCorrupt, vc, err)
		}
	case kindCompressed:
		c, err := img.decompressed(vc, m)
		if err != nil {
			return err
		}
		copy(buf, c)
	default:
		return nil
	}
	if allZero(buf[:n]) {
		return nil
	}
	if _, err := w.WriteAt(buf[:n], int64(voff)); err != nil {
		return fmt.Errorf("qcow2: write raw image at %d: %w", voff, err)
	}
	return nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
