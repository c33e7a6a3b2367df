// Package virtio is the device side of virtio 1.2: the split virtqueue
// (§2.7), the virtio-mmio transport in its version 2 ("modern") register
// layout (§4.2), and the contract between that transport and device models
// (blk, net, rng...).
//
// Every value the guest writes into rings, descriptors or registers is
// hostile. Queue copies each descriptor chain into a host-side slice of
// validated buffers once and hands only that to devices; a guest that breaks
// the rules gets its device marked DEVICE_NEEDS_RESET (§2.1.2), never a panic
// and never an access outside guest RAM.
//
// Nothing here issues ioctls: the VMM wires MMIO exits to MMIO.Read/Write,
// an ioeventfd on NotifyOffset to MMIO.Kick, and an irqfd behind Interrupt.
package virtio

import (
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// DeviceID is a virtio device type (virtio 1.2 §5).
type DeviceID uint32

// Device IDs this project implements (virtio 1.2 §5).
const (
	DeviceNet     DeviceID = 1
	DeviceBlock   DeviceID = 2
	DeviceEntropy DeviceID = 4
	DeviceVsock   DeviceID = 19
)

// String returns the device type's name.
func (d DeviceID) String() string {
	switch d {
	case DeviceNet:
		return "net"
	case DeviceBlock:
		return "blk"
	case DeviceEntropy:
		return "rng"
	case DeviceVsock:
		return "vsock"
	}
	return fmt.Sprintf("device(%d)", uint32(d))
}

// Reserved feature bits (virtio 1.2 §6).
const (
	FeatureIndirectDesc = 1 << 28 // VIRTIO_F_INDIRECT_DESC
	FeatureEventIdx     = 1 << 29 // VIRTIO_F_EVENT_IDX
	FeatureVersion1     = 1 << 32 // VIRTIO_F_VERSION_1
)

// Device status bits (virtio 1.2 §2.1).
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Interrupt status bits (virtio 1.2 §4.2.2, InterruptStatus).
const (
	InterruptUsedBuffer   = 1 // a used buffer notification
	InterruptConfigChange = 2 // a configuration change notification
)

// Interrupt raises a device's interrupt line (edge). The VMM backs it with
// an irqfd; tests count calls.
type Interrupt interface {
	Trigger() error
}

// Device is a virtio device model behind a transport.
type Device interface {
	// Type returns the virtio device ID.
	Type() DeviceID
	// Features returns the offered feature bits, including
	// FeatureVersion1.
	Features() uint64
	// QueueSizes returns the maximum size of each queue.
	QueueSizes() []uint16
	// ReadConfig fills data from the device-specific configuration space
	// at offset. Bytes past the end read as zero.
	ReadConfig(offset uint64, data []byte)
	// WriteConfig writes the device-specific configuration space.
	WriteConfig(offset uint64, data []byte)
	// Activate starts the device once the driver set DRIVER_OK. queues
	// has one entry per QueueSizes entry; an entry is nil when the driver
	// did not enable that queue. notify signals used buffers on queue q:
	// it applies notification suppression, sets the used-buffer interrupt
	// status bit and triggers the interrupt. acked holds the negotiated
	// features.
	Activate(mem *memory.Memory, queues []*Queue, notify func(q int) error, acked uint64) error
	// Notify tells the device that the driver kicked queue q. It is called
	// from the ioeventfd goroutine or a vCPU's MMIO exit and must not block
	// for long.
	Notify(q int)
	// Reset stops the device and drops its queues and memory; it may be
	// activated again afterwards.
	Reset()
}
