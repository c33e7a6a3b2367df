package qcow2

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory a hostile zstd frame can make the decoder
// allocate. QEMU compresses one cluster (at most 2 MiB) per frame.
const maxZstdWindow = 8 << 20

// decompressor inflates compressed clusters. It is not safe for concurrent
// use; Image guards it with its mutex.
type decompressor struct {
	kind uint8
	zstd *zstd.Decoder
}

// decompress fills dst, exactly one cluster, from src. As QEMU does
// (block/qcow2-threads.c), the stream may carry trailing bytes or stop
// without its end marker once the cluster is full; it may not stop short.
func (d *decompressor) decompress(dst, src []byte) error {
	var r io.Reader
	switch d.kind {
	case CompressDeflate:
		// Raw deflate, no zlib header (QEMU's -12 window bits).
		fr := flate.NewReader(bytes.NewReader(src))
		defer fr.Close()
		r = fr
	case CompressZstd:
		if d.zstd == nil {
			z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return fmt.Errorf("zstd: %w", err)
			}
			d.zstd = z
		}
		if err := d.zstd.Reset(bytes.NewReader(src)); err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		r = d.zstd
	default:
		return fmt.Errorf("compression type %d", d.kind)
	}
	if _, err := io.ReadFull(r, dst); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("compressed data is shorter than a cluster")
		}
		return fmt.Errorf("decompress: %w", err)
	}
	return nil
}
