// Package rng is a virtio entropy device (virtio 1.2 §5.4): it fills the
// driver's device-writable buffers from the host's getrandom(2), through
// crypto/rand.
package rng

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"

	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// QueueSize is the size of the single request queue.
const QueueSize = 64

// MaxRequest caps the bytes served per request, so a guest posting huge
// buffers cannot make the device drain the host's entropy pool in one go.
const MaxRequest = 64 << 10

// Device is a virtio-rng device. It has no feature bits of its own and no
// configuration space (virtio 1.2 §5.4.3, §5.4.4).
type Device struct {
	// mu serializes request processing against Activate and Reset and
	// guards the fields below.
	mu     sync.Mutex
	mem    *memory.Memory
	q      *virtio.Queue
	notify func(int) error
	served uint64
}

// New returns an entropy device.
func New() *Device { return &Device{} }

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

// Activate starts serving the request queue.
func (d *Device) Activate(mem *memory.Memory, queues []*virtio.Queue, notify func(int) error, acked uint64) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("virtio-rng: request queue not enabled")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mem, d.q, d.notify = mem, queues[0], notify
	return nil
}

// Reset stops serving the queue.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mem, d.q, d.notify = nil, nil, nil
}

// Served returns the random bytes handed to the guest so far.
func (d *Device) Served() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.served
}

// Notify fills every available request (virtio 1.2 §5.4.6: the device
// writes random bytes into the device-writable buffers), at most MaxRequest
// bytes each, and signals the driver once.
func (d *Device) Notify(q int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q != 0 || d.q == nil {
		return
	}
	served := false
	for {
		c, err := d.q.Pop()
		if err != nil || c == nil {
			break
		}
		n := d.fill(c)
		if d.q.Push(c.Head, n) != nil {
			break
		}
		served = true
	}
	if served {
		if err := d.notify(0); err != nil {
			slog.Error("virtio-rng: signal used buffers", "err", err)
		}
	}
}

// fill writes random bytes into c's writable buffers and returns the count.
func (d *Device) fill(c *virtio.Chain) uint32 {
	ds, _ := virtio.SplitAt(c.Writable(), MaxRequest)
	iovs, err := virtio.Slices(d.mem, ds)
	if err != nil {
		return 0
	}
	var n uint32
	for _, b := range iovs {
		// crypto/rand.Read uses getrandom(2) and never fails.
		_, _ = rand.Read(b)
		n += uint32(len(b))
	}
	d.served += uint64(n)
	return n
}
