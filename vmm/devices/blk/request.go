package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Request types (virtio 1.2 §5.2.6).
const (
	TypeIn          = 0
	TypeOut         = 1
	TypeFlush       = 4
	TypeGetID       = 8
	TypeGetLifetime = 10
	TypeDiscard     = 11
	TypeWriteZeroes = 13
)

// Status byte values (virtio 1.2 §5.2.6).
const (
	StatusOK     = 0
	StatusIOErr  = 1
	StatusUnsupp = 2
)

// SectorSize is the unit of the request header's sector field, whatever the
// device's blk_size (virtio 1.2 §5.2.6).
const SectorSize = 512

// IDLen is the length of the GET_ID answer (virtio 1.2 §5.2.6).
const IDLen = 20

// headerLen is sizeof(struct virtio_blk_req) up to the data: type u32,
// reserved (ioprio) u32, sector u64.
const headerLen = 16

// errNoStatus marks a chain without a writable status byte: the device
// cannot answer it at all.
var errNoStatus = errors.New("request has no writable status byte")

// request is a parsed virtio-blk request (virtio 1.2 §5.2.6):
//
//	struct virtio_blk_req {
//	        le32 type; le32 reserved; le64 sector;
//	        u8 data[];      // readable for OUT, writable for IN and GET_ID
//	        u8 status;      // last writable byte
//	};
type request struct {
	typ    uint32
	sector uint64
	data   []virtio.Desc
	status uint64 // GPA of the status byte
	err    error  // header unreadable: answer IOERR
}

// parseRequest splits c into header, data and status. It fails only when
// there is no status byte to answer with; other problems are in req.err and
// get an IOERR.
func parseRequest(mem *memory.Memory, c *virtio.Chain) (request, error) {
	var req request
	// The status byte is the last byte of the last descriptor, which must
	// be device-writable and at least one byte long (virtio 1.2 §5.2.6:
	// status follows the data; §2.7.4 lets it share a descriptor with
	// them). A zero-length writable descriptor is no place for it: the
	// guest granted no byte there.
	w := c.Writable()
	if len(w) == 0 || w[len(w)-1].Len == 0 {
		return req, errNoStatus
	}
	last := w[len(w)-1]
	req.status = last.Addr + uint64(last.Len) - 1
	wdata, _ := virtio.SplitAt(w, c.WriteLen()-1)
	var hdr [headerLen]byte
	if _, err := io.ReadFull(virtio.NewReader(mem, c), hdr[:]); err != nil {
		req.err = fmt.Errorf("request header: %d readable bytes, need %d", c.ReadLen(), headerLen)
		return req, nil
	}
	req.typ = binary.LittleEndian.Uint32(hdr[0:])
	req.sector = binary.LittleEndian.Uint64(hdr[8:])
	_, rdata := virtio.SplitAt(c.Readable(), headerLen)
	switch req.typ {
	case TypeOut:
		req.data = rdata
	default:
		req.data = wdata
	}
	return req, nil
}

// span checks a data transfer at req.sector against a disk of size bytes and
// returns its byte offset (virtio 1.2 §5.2.6.1: lengths are multiples of 512;
// requests past the end fail).
func (req *request) span(size uint64) (int64, error) {
	n := virtio.TotalLen(req.data)
	if n%SectorSize != 0 {
		return 0, fmt.Errorf("data length %d not a multiple of %d", n, SectorSize)
	}
	if req.sector > math.MaxInt64/SectorSize {
		return 0, fmt.Errorf("sector %d overflows", req.sector)
	}
	off := req.sector * SectorSize
	if off > size || n > size-off {
		return 0, fmt.Errorf("sectors [%d, +%d) past the end of a %d-byte disk", req.sector, n/SectorSize, size)
	}
	return int64(off), nil
}
