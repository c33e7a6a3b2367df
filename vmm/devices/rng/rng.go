// Package rng is a virtio entropy device (virtio 1.2 §5.4): it fills the
// driver's device-writable buffers from the host's getrandom(2), through
// crypto/rand.
package rng

import (
	"crypto/rand"
	"log/slog"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// QueueSize is the size of the single request queue.
const QueueSize = 64

// MaxRequest caps the bytes served per request, so a guest posting huge
// buffers cannot make the device drain the host's entropy pool in one go.
const MaxRequest = 64 << 10

// Options configures an entropy device.
type Options struct {
	// Logger receives request errors; nil means slog.Default.
	Logger *slog.Logger
}

// Device is a virtio-rng device. It has no feature bits of its own and no
// configuration space (virtio 1.2 §5.4.3, §5.4.4).
type Device struct {
	virtio.RequestQueue // Activate, Reset and the request loop

	log   *slog.Logger
	stats stats
}

// New returns an entropy device.
func New(opts Options) *Device {
	d := &Device{log: opts.Logger}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("virtio", "rng")
	return d
}

// Type returns virtio.DeviceEntropy.
func (d *Device) Type() virtio.DeviceID { return virtio.DeviceEntropy }

// Features returns the transport features the device supports.
func (d *Device) Features() uint64 {
	return virtio.FeatureVersion1 | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx
}

// QueueSizes returns the one request queue (virtio 1.2 §5.4.2).
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ReadConfig reads zeros: there is no configuration space.
func (d *Device) ReadConfig(offset uint64, data []byte) { clear(data) }

// WriteConfig ignores writes.
func (d *Device) WriteConfig(offset uint64, data []byte) {}

// Notify fills every available request (virtio 1.2 §5.4.6: the device
// writes random bytes into the device-writable buffers), at most MaxRequest
// bytes each, and signals the driver once.
func (d *Device) Notify(q int) {
	if err := d.Serve(q, d.fill); err != nil {
		d.log.Error("serve requests", "err", err)
	}
}

// fill writes random bytes into c's writable buffers and returns the count.
func (d *Device) fill(mem *memory.Memory, c *virtio.Chain) uint32 {
	ds, _ := virtio.SplitAt(c.Writable(), MaxRequest)
	iovs, err := virtio.Slices(mem, ds)
	if err != nil {
		return 0
	}
	var n uint32
	for _, b := range iovs {
		// crypto/rand.Read uses getrandom(2) and never fails.
		_, _ = rand.Read(b)
		n += uint32(len(b))
	}
	d.stats.served.Add(uint64(n))
	return n
}
