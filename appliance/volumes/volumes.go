package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/durable"
)

// blockSize is the unit in which a copy looks for zeros to leave as holes.
const blockSize = 64 << 10

// Method says how CreateVolume made a volume.
type Method string

// Methods of CreateVolume.
const (
	Reflink Method = "reflink" // extents shared with the image (FICLONE)
	Sparse  Method = "sparse"  // data copied, holes and zero blocks left unallocated
)

// CreateVolume makes dst a copy of the image disk imageDisk, which it must
// not already exist. The copy is written under a temporary name in dst's
// directory, synced and renamed into place, so a failed copy leaves nothing.
func CreateVolume(imageDisk, dst string) error {
	_, err := Create(imageDisk, dst)
	return err
}

// Create is CreateVolume that also reports the method used.
func Create(imageDisk, dst string) (Method, error) { return CreateSize(imageDisk, dst, 0) }

// CreateSize is Create that then grows the volume to size bytes, when
// that is larger than the image disk, before it is renamed into place:
// the growth is a hole, so it costs no space until the guest writes.
func CreateSize(imageDisk, dst string, size int64) (Method, error) {
	src, err := os.Open(imageDisk)
	if err != nil {
		return "", fmt.Errorf("create volume: %w", err)
	}
	defer src.Close()
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("create volume %s: %w", dst, os.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return "", fmt.Errorf("create volume %s: %w", dst, err)
	}
	method, err := fill(tmp, src)
	if err == nil {
		err = grow(tmp, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("create volume %s from %s: %w", dst, imageDisk, err)
	}
	return method, nil
}

// grow extends f to size bytes if it is shorter.
func grow(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() >= size {
		return err
	}
	return f.Truncate(size)
}

// fill copies src into the empty file dst, by reflink if it can.
func fill(dst, src *os.File) (Method, error) {
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err == nil {
		return Reflink, nil
	}
	fi, err := src.Stat()
	if err != nil {
		return "", err
	}
	if err := copySparse(dst, src, fi.Size()); err != nil {
		return "", err
	}
	return Sparse, dst.Truncate(fi.Size())
}

// copySparse copies the data regions of src (found with SEEK_DATA and
// SEEK_HOLE, see lseek(2)) to the same offsets of dst, skipping blocks that
// are all zeros.
func copySparse(dst, src *os.File, size int64) error {
	buf := make([]byte, blockSize)
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			return fmt.Errorf("seek data at %d: %w", off, err)
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole at %d: %w", data, err)
		}
		if err := copyRange(dst, src, data, hole, buf); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// copyRange copies src[from:to] to dst at the same offsets, leaving zero
// blocks unwritten.
func copyRange(dst, src *os.File, from, to int64, buf []byte) error {
	for off := from; off < to; {
		n := int64(len(buf))
		if to-off < n {
			n = to - off
		}
		b := buf[:n]
		if _, err := src.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if !allZero(b) {
			if _, err := dst.WriteAt(b, off); err != nil {
				return fmt.Errorf("write at %d: %w", off, err)
			}
		}
		off += n
	}
	return nil
}

// zeros is a block of zeros to compare with.
var zeros = make([]byte, blockSize)

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

// DeleteVolume removes the volume at path; a missing volume is not an error.
func DeleteVolume(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete volume: %w", err)
	}
	return nil
}
