package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// virtio-mmio register offsets, version 2 layout (virtio 1.2 §4.2.2).
const (
	regMagic            = 0x000
	regVersion          = 0x004
	regDeviceID         = 0x008
	regVendorID         = 0x00c
	regDeviceFeatures   = 0x010
	regDeviceFeaturesSe = 0x014
	regDriverFeatures   = 0x020
	regDriverFeaturesSe = 0x024
	regQueueSel         = 0x030
	regQueueNumMax      = 0x034
	regQueueNum         = 0x038
	regQueueReady       = 0x044
	regQueueNotify      = 0x050
	regInterruptStatus  = 0x060
	regInterruptACK     = 0x064
	regStatus           = 0x070
	regQueueDescLow     = 0x080
	regQueueDescHigh    = 0x084
	regQueueDriverLow   = 0x090
	regQueueDriverHigh  = 0x094
	regQueueDeviceLow   = 0x0a0
	regQueueDeviceHigh  = 0x0a4
	regSHMSel           = 0x0ac
	regSHMLenLow        = 0x0b0
	regSHMLenHigh       = 0x0b4
	regSHMBaseLow       = 0x0b8
	regSHMBaseHigh      = 0x0bc
	regQueueReset       = 0x0c0
	regConfigGeneration = 0x0fc
	regConfig           = 0x100
)

// NotifyOffset is the QueueNotify register. The VMM registers one ioeventfd
// per queue here, with the queue index as datamatch, and calls Kick.
const NotifyOffset = regQueueNotify

// Size is the size of one virtio-mmio device's register window.
const Size = 0x1000

// MagicValue is "virt" in little endian (virtio 1.2 §4.2.2).
const MagicValue = 0x74726976

// VendorID is the vendor ID the transport reports: "IRON", little endian.
const VendorID = 0x4e4f5249

// queueRegs is one queue's registers as the driver programmed them.
type queueRegs struct {
	cfg   QueueConfig
	ready bool
}

// MMIO is the virtio-mmio register file (virtio 1.2 §4.2, version 2) for
// one device. Read and Write serve MMIO exits from any vCPU; Kick serves the
// ioeventfd path. All are safe for concurrent use.
type MMIO struct {
	dev     Device
	irq     Interrupt
	offered uint64
	maxSize []uint16
	log     *slog.Logger

	isr    atomic.Uint32 // InterruptStatus
	status atomic.Uint32 // device status; NEEDS_RESET may be set from any goroutine
	gen    atomic.Uint32 // ConfigGeneration
	active atomic.Bool   // DRIVER_OK accepted and device activated
	broken atomic.Pointer[error]

	// mu serializes register writes and guards the fields below.
	mu       sync.Mutex
	mem      *memory.Memory
	devSel   uint32
	drvSel   uint32
	acked    uint64
	queueSel uint32
	queues   []queueRegs
}

// NewMMIO returns the transport for dev, raising irq for its interrupts.
func NewMMIO(dev Device, irq Interrupt) *MMIO {
	sizes := append([]uint16(nil), dev.QueueSizes()...)
	return &MMIO{
		dev: dev, irq: irq, offered: dev.Features(), maxSize: sizes,
		log:    slog.Default().With("virtio", dev.Type().String()),
		queues: make([]queueRegs, len(sizes)),
	}
}

// SetLogger replaces the logger (slog.Default by default).
func (m *MMIO) SetLogger(l *slog.Logger) { m.log = l.With("virtio", m.dev.Type().String()) }

// SetMemory gives the transport guest RAM; queues can be enabled only after.
func (m *MMIO) SetMemory(mem *memory.Memory) {
	m.mu.Lock()
	m.mem = mem
	m.mu.Unlock()
}

// Broken returns the error with which the driver broke the device (the
// device is then marked DEVICE_NEEDS_RESET), or nil. A device reset by the
// driver clears it.
func (m *MMIO) Broken() error {
	if p := m.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// fail marks the device as needing a reset (virtio 1.2 §2.1.2): set
// DEVICE_NEEDS_RESET and send a configuration change notification. It never
// blocks on mu, so devices may call it from anywhere.
func (m *MMIO) fail(err error) {
	if !m.broken.CompareAndSwap(nil, &err) {
		return
	}
	m.log.Warn("guest broke the device; marked DEVICE_NEEDS_RESET", "err", err)
	m.status.Or(StatusDeviceNeedsReset)
	m.isr.Or(InterruptConfigChange)
	if terr := m.irq.Trigger(); terr != nil {
		m.log.Error("raise interrupt", "err", terr)
	}
}

// ConfigChanged bumps ConfigGeneration and sends a configuration change
// notification (virtio 1.2 §2.5.1, §4.2.3.3). Devices whose configuration
// space changes at run time call it.
func (m *MMIO) ConfigChanged() error {
	m.gen.Add(1)
	m.isr.Or(InterruptConfigChange)
	return m.irq.Trigger()
}

// Kick tells the device the driver notified queue q; the ioeventfd goroutine
// calls it. Kicks before activation or for unknown queues are ignored.
func (m *MMIO) Kick(q int) {
	if !m.active.Load() || m.broken.Load() != nil || q < 0 || q >= len(m.maxSize) {
		return
	}
	m.dev.Notify(q)
}

// Read serves a guest read at offset from the device base (virtio 1.2
// §4.2.2). Registers below the configuration space are 32-bit only; other
// widths and unknown registers read as zero.
func (m *MMIO) Read(offset uint64, data []byte) {
	clear(data)
	if offset >= regConfig {
		m.dev.ReadConfig(offset-regConfig, data)
		return
	}
	if len(data) != 4 || offset%4 != 0 {
		m.log.Debug("ignored odd-sized register read", "offset", offset, "len", len(data))
		return
	}
	binary.LittleEndian.PutUint32(data, m.readReg(offset))
}

func (m *MMIO) readReg(offset uint64) uint32 {
	switch offset {
	case regMagic:
		return MagicValue
	case regVersion:
		return 2
	case regDeviceID:
		return uint32(m.dev.Type())
	case regVendorID:
		return VendorID
	case regInterruptStatus:
		return m.isr.Load()
	case regStatus:
		return m.status.Load()
	case regConfigGeneration:
		return m.gen.Load()
	case regSHMLenLow, regSHMLenHigh, regSHMBaseLow, regSHMBaseHigh:
		return 0xffffffff // no shared memory regions: length -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch offset {
	case regDeviceFeatures:
		if m.devSel < 2 {
			return uint32(m.offered >> (32 * m.devSel))
		}
	case regQueueNumMax:
		if int(m.queueSel) < len(m.maxSize) {
			return uint32(m.maxSize[m.queueSel])
		}
	case regQueueReady:
		if q := m.selected(); q != nil && q.ready {
			return 1
		}
	}
	return 0
}

// selected returns the registers of the queue QueueSel names, or nil.
// Callers hold mu.
func (m *MMIO) selected() *queueRegs {
	if int(m.queueSel) < len(m.queues) {
		return &m.queues[m.queueSel]
	}
	return nil
}

// Write serves a guest write at offset from the device base (virtio 1.2
// §4.2.2).
func (m *MMIO) Write(offset uint64, data []byte) {
	if offset >= regConfig {
		m.dev.WriteConfig(offset-regConfig, data)
		return
	}
	if len(data) != 4 || offset%4 != 0 {
		m.log.Debug("ignored odd-sized register write", "offset", offset, "len", len(data))
		return
	}
	v := binary.LittleEndian.Uint32(data)
	switch offset {
	case regQueueNotify:
		// Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
		m.Kick(int(v))
		return
	case regInterruptACK:
		m.isr.And(^v)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch offset {
	case regDeviceFeaturesSe:
		m.devSel = v
	case regDriverFeaturesSe:
		m.drvSel = v
	case regDriverFeatures:
		m.writeDriverFeatures(v)
	case regQueueSel:
		m.queueSel = v
	case regQueueNum, regQueueDescLow, regQueueDescHigh, regQueueDriverLow,
		regQueueDriverHigh, regQueueDeviceLow, regQueueDeviceHigh:
		m.writeQueueReg(offset, v)
	case regQueueReady:
		m.writeQueueReady(v)
	case regStatus:
		m.writeStatus(v)
	case regSHMSel, regQueueReset:
		// No shared memory regions, no VIRTIO_F_RING_RESET: ignored.
	default:
		m.log.Debug("ignored write to read-only or unknown register", "offset", offset)
	}
}

// writeDriverFeatures accepts feature bits between DRIVER and FEATURES_OK
// (virtio 1.2 §3.1.1), masking bits the device never offered.
func (m *MMIO) writeDriverFeatures(v uint32) {
	if m.status.Load()&StatusFeaturesOK != 0 || m.drvSel > 1 {
		m.log.Debug("ignored DriverFeatures write", "sel", m.drvSel, "status", m.status.Load())
		return
	}
	shift := 32 * m.drvSel
	want := uint64(v) << shift
	offered := m.offered & (0xffffffff << shift)
	if extra := want &^ offered; extra != 0 {
		m.log.Warn("driver acked features the device never offered; masked", "bits", fmt.Sprintf("%#x", extra))
	}
	m.acked = m.acked&^(0xffffffff<<shift) | want&offered
}

// writeQueueReg sets one field of the selected queue. The spec forbids
// changing a queue once QueueReady is set (virtio 1.2 §4.2.3.2), and this
// transport takes no queue changes after DRIVER_OK.
func (m *MMIO) writeQueueReg(offset uint64, v uint32) {
	q := m.selected()
	if q == nil || q.ready || m.status.Load()&StatusDriverOK != 0 {
		m.log.Debug("refused queue register write", "offset", offset, "queue", m.queueSel)
		return
	}
	set := func(p *uint64, high bool) {
		if high {
			*p = *p&0xffffffff | uint64(v)<<32
		} else {
			*p = *p&^0xffffffff | uint64(v)
		}
	}
	switch offset {
	case regQueueNum:
		q.cfg.Size = uint16(v)
		if v > 0xffff {
			q.cfg.Size = 0 // refused at QueueReady
		}
	case regQueueDescLow, regQueueDescHigh:
		set(&q.cfg.Desc, offset == regQueueDescHigh)
	case regQueueDriverLow, regQueueDriverHigh:
		set(&q.cfg.Avail, offset == regQueueDriverHigh)
	case regQueueDeviceLow, regQueueDeviceHigh:
		set(&q.cfg.Used, offset == regQueueDeviceHigh)
	}
}

// writeQueueReady enables or disables the selected queue. Enabling checks
// the configuration against guest RAM at once; a bad one breaks the device.
func (m *MMIO) writeQueueReady(v uint32) {
	q := m.selected()
	if q == nil || m.status.Load()&StatusDriverOK != 0 {
		m.log.Debug("refused QueueReady write", "queue", m.queueSel)
		return
	}
	if v == 0 {
		q.ready = false
		return
	}
	if m.mem == nil {
		m.fail(errors.New("queue enabled before guest memory was set"))
		return
	}
	if _, err := NewQueue(m.mem, q.cfg, m.maxSize[m.queueSel], m.acked, nil); err != nil {
		m.fail(fmt.Errorf("queue %d: %w", m.queueSel, err))
		return
	}
	q.ready = true
}
