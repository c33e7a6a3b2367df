package virtio

import (
	"errors"
	"fmt"
)

// writeStatus runs the device status state machine (virtio 1.2 §2.1, §3.1.1,
// §4.2.3.1). Callers hold mu.
//
//   - 0 resets the device.
//   - The driver only adds bits; clearing any bit other than by reset is
//     ignored. DEVICE_NEEDS_RESET belongs to the device and is kept.
//   - FEATURES_OK is accepted only if the driver acked VIRTIO_F_VERSION_1
//     (this transport is modern only); otherwise it stays clear, which is
//     how the driver learns the features were refused (§2.2.2).
//   - DRIVER_OK activates the device with every enabled queue; it needs
//     FEATURES_OK first.
func (m *MMIO) writeStatus(v uint32) {
	if v == 0 {
		m.reset()
		return
	}
	old := m.status.Load()
	v = v&^StatusDeviceNeedsReset | old&StatusDeviceNeedsReset
	if v&old != old {
		m.log.Debug("ignored status write clearing bits", "old", old, "new", v)
		return
	}
	added := v &^ old
	if added&StatusFeaturesOK != 0 && m.acked&FeatureVersion1 == 0 {
		m.log.Warn("driver did not accept VIRTIO_F_VERSION_1; refusing FEATURES_OK (modern device only)")
		v &^= StatusFeaturesOK
		added &^= StatusFeaturesOK
	}
	if added&StatusDriverOK != 0 {
		if v&StatusFeaturesOK == 0 {
			m.setStatus(v &^ StatusDriverOK)
			m.fail(errors.New("DRIVER_OK without FEATURES_OK"))
			return
		}
		m.setStatus(v)
		if err := m.activate(); err != nil {
			m.fail(err)
		}
		return
	}
	m.setStatus(v)
}

// setStatus stores a driver-written status without losing a
// DEVICE_NEEDS_RESET that fail set concurrently (fail publishes broken
// before it sets the bit).
func (m *MMIO) setStatus(v uint32) {
	m.status.Store(v)
	if m.broken.Load() != nil {
		m.status.Or(StatusDeviceNeedsReset)
	}
}

// activate creates the enabled queues and starts the device. Callers hold mu.
func (m *MMIO) activate() error {
	if m.broken.Load() != nil {
		return nil // already marked; stay inert until reset
	}
	if m.mem == nil {
		return errors.New("DRIVER_OK before guest memory was set")
	}
	queues := make([]*Queue, len(m.queues))
	for i, r := range m.queues {
		if !r.ready {
			continue
		}
		q, err := NewQueue(m.mem, r.cfg, m.maxSize[i], m.acked, m.fail)
		if err != nil {
			return fmt.Errorf("queue %d: %w", i, err)
		}
		queues[i] = q
	}
	notify := func(qi int) error {
		if qi < 0 || qi >= len(queues) || queues[qi] == nil {
			return fmt.Errorf("notify: no queue %d", qi)
		}
		if !queues[qi].NeedsInterrupt() {
			return nil
		}
		m.isr.Or(InterruptUsedBuffer)
		return m.irq.Trigger()
	}
	if err := m.dev.Activate(m.mem, queues, notify, m.acked); err != nil {
		return fmt.Errorf("activate %s: %w", m.dev.Type(), err)
	}
	m.active.Store(true)
	return nil
}

// reset returns the transport and the device to their initial state
// (virtio 1.2 §2.4). Callers hold mu.
func (m *MMIO) reset() {
	// Device.Reset is idempotent; call it even if activation failed
	// half-way.
	m.active.Store(false)
	m.dev.Reset()
	m.status.Store(0)
	m.isr.Store(0)
	m.broken.Store(nil)
	m.devSel, m.drvSel, m.acked, m.queueSel = 0, 0, 0, 0
	clear(m.queues)
}
