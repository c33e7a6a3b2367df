package blk

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// maxIOV is the kernel's IOV_MAX: preadv/pwritev take at most this many
// buffers per call.
const maxIOV = 1024

// serve executes one request and writes its status byte last, after all
// data (virtio 1.2 §5.2.6). It returns the used length: the bytes written
// into device-writable buffers, status included.
func (d *Device) serve(mem *memory.Memory, c *virtio.Chain) uint32 {
	req, err := parseRequest(mem, c)
	if err != nil {
		d.stats.errors.Add(1)
		d.log.Debug("unanswerable request", "err", err)
		return 0
	}
	status, written := byte(StatusOK), uint64(0)
	if req.err != nil {
		status, err = StatusIOErr, req.err
	} else {
		status, written, err = d.execute(mem, &req)
	}
	if err != nil {
		d.stats.errors.Add(1)
		d.log.Debug("request failed", "type", req.typ, "sector", req.sector, "status", status, "err", err)
	}
	// The status address was validated with the chain.
	_ = mem.WriteAt([]byte{status}, req.status)
	return uint32(written) + 1
}

// execute runs a parsed request and returns its status, the data bytes it
// wrote into guest buffers, and the error behind a non-OK status.
func (d *Device) execute(mem *memory.Memory, req *request) (byte, uint64, error) {
	switch req.typ {
	case TypeIn:
		off, err := req.span(d.size)
		if err != nil {
			return StatusIOErr, 0, err
		}
		n, err := d.transfer(mem, req.data, off, false)
		d.stats.reads.Add(1)
		d.stats.readBytes.Add(n)
		if err != nil {
			return StatusIOErr, n, err
		}
		return StatusOK, n, nil
	case TypeOut:
		if d.ro {
			// virtio 1.2 §5.2.6.2: IOERR, and write nothing.
			return StatusIOErr, 0, errors.New("write to a read-only disk")
		}
		off, err := req.span(d.size)
		if err != nil {
			return StatusIOErr, 0, err
		}
		n, err := d.transfer(mem, req.data, off, true)
		d.stats.writes.Add(1)
		d.stats.writeBytes.Add(n)
		if err != nil {
			return StatusIOErr, 0, err
		}
		return StatusOK, 0, nil
	case TypeFlush:
		d.stats.flushes.Add(1)
		if err := unix.Fdatasync(d.fd); err != nil {
			return StatusIOErr, 0, fmt.Errorf("fdatasync: %w", err)
		}
		return StatusOK, 0, nil
	case TypeGetID:
		w := virtio.NewWriter(mem, &virtio.Chain{Descs: req.data})
		_, _ = w.Write(d.id[:]) // a shorter buffer gets a prefix
		return StatusOK, uint64(w.Written()), nil
	}
	return StatusUnsupp, 0, fmt.Errorf("unsupported request type %d", req.typ)
}

// transfer moves the data buffers to or from the file at off with
// preadv/pwritev directly on guest RAM, and returns the bytes moved. Partial
// transfers and EINTR are resumed; hitting end of file is an error.
func (d *Device) transfer(mem *memory.Memory, data []virtio.Desc, off int64, write bool) (uint64, error) {
	iovs, err := virtio.Slices(mem, data)
	if err != nil {
		return 0, err
	}
	var done uint64
	for len(iovs) > 0 {
		batch := iovs[:min(len(iovs), maxIOV)]
		var n int
		if write {
			n, err = unix.Pwritev(d.fd, batch, off+int64(done))
		} else {
			n, err = unix.Preadv(d.fd, batch, off+int64(done))
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("at offset %d: %w", off+int64(done), err)
		}
		if n == 0 {
			return done, fmt.Errorf("end of file at offset %d", off+int64(done))
		}
		done += uint64(n)
		iovs = advance(iovs, n)
	}
	return done, nil
}

// advance drops the first n bytes from iovs.
func advance(iovs [][]byte, n int) [][]byte {
	for n > 0 && len(iovs) > 0 {
		k := min(n, len(iovs[0]))
		iovs[0] = iovs[0][k:]
		n -= k
		if len(iovs[0]) == 0 {
			iovs = iovs[1:]
		}
	}
	return iovs
}
