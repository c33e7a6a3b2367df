// Package blk is a virtio-blk device (virtio 1.2 §5.2) on a raw disk image.
// It gets an open file descriptor, never a path: the jail hands the VMM its
// disks as fds. Data moves with preadv/pwritev straight between the file and
// guest RAM.
package blk

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"

	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// Feature bits (virtio 1.2 §5.2.3).
const (
	FeatureSizeMax  = 1 << 1
	FeatureSegMax   = 1 << 2
	FeatureGeometry = 1 << 4
	FeatureRO       = 1 << 5
	FeatureBlkSize  = 1 << 6
	FeatureFlush    = 1 << 9
)

// QueueSize is the size of the single request queue.
const QueueSize = 256

// SegmentMax is the size_max the device offers: the largest data buffer in
// a request. With seg_max = QueueSize-2 it bounds a request to 254 MiB, under
// the queue's virtio.MaxChainBytes, so a legitimate request never trips the
// chain-length guard.
const SegmentMax = 1 << 20

// Options configures a disk.
type Options struct {
	// ReadOnly offers VIRTIO_BLK_F_RO and fails every write with IOERR.
	ReadOnly bool
	// ID is the serial the guest reads with GET_ID (at most 20 bytes;
	// longer is cut). Empty means "ironvisor".
	ID string
	// Logger receives request errors; nil means slog.Default.
	Logger *slog.Logger
}

// Device is a virtio-blk device backed by a raw file. Requests run
// synchronously in Notify: the VMM calls it from the queue's ioeventfd
// goroutine, never from a vCPU.
type Device struct {
	virtio.RequestQueue // Activate, Reset and the request loop

	file  *os.File
	fd    int
	size  uint64
	ro    bool
	id    [IDLen]byte
	log   *slog.Logger
	stats stats
}

// New returns a disk on f, an open raw image (a regular file or block
// device). The device does not close f.
func New(f *os.File, opts Options) (*Device, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat disk: %w", err)
	}
	size := uint64(fi.Size())
	if !fi.Mode().IsRegular() {
		// Block devices report size 0 from stat; seek to the end.
		end, err := f.Seek(0, 2)
		if err == nil {
			size = uint64(end)
		}
	}
	d := &Device{file: f, fd: int(f.Fd()), size: size, ro: opts.ReadOnly, log: opts.Logger}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("virtio", "blk")
	id := opts.ID
	if id == "" {
		id = "ironvisor"
	}
	copy(d.id[:], id)
	return d, nil
}

// Type returns virtio.DeviceBlock.
func (d *Device) Type() virtio.DeviceID { return virtio.DeviceBlock }

// Features returns the offered features.
func (d *Device) Features() uint64 {
	f := uint64(virtio.FeatureVersion1 | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx |
		FeatureSizeMax | FeatureSegMax | FeatureBlkSize | FeatureFlush)
	if d.ro {
		f |= FeatureRO
	}
	return f
}

// QueueSizes returns one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// config returns struct virtio_blk_config (virtio 1.2 §5.2.4) up to
// blk_size: capacity in 512-byte sectors, size_max, seg_max, geometry
// (unused), blk_size.
func (d *Device) config() []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint64(b[0:], d.size/SectorSize)
	binary.LittleEndian.PutUint32(b[8:], SegmentMax)
	// Two descriptors of every request carry the header and the status.
	binary.LittleEndian.PutUint32(b[12:], QueueSize-2)
	binary.LittleEndian.PutUint32(b[20:], SectorSize)
	return b
}

// ReadConfig reads the configuration space; bytes past its end read as 0.
func (d *Device) ReadConfig(offset uint64, data []byte) {
	clear(data)
	if c := d.config(); offset < uint64(len(c)) {
		copy(data, c[offset:])
	}
}

// WriteConfig ignores writes: nothing here is writable without
// VIRTIO_BLK_F_CONFIG_WCE, which is not offered.
func (d *Device) WriteConfig(offset uint64, data []byte) {}

// Notify serves every available request on the queue, then signals the
// driver once.
func (d *Device) Notify(q int) {
	if err := d.Serve(q, d.serve); err != nil {
		d.log.Error("serve requests", "err", err)
	}
}
