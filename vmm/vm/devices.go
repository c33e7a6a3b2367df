package vm

import (
	"fmt"
	"sync"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/devices/cmos"
	"github.com/ironvisor/ironvisor/vmm/devices/i8042"
	"github.com/ironvisor/ironvisor/vmm/devices/serial"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/ring"
	"github.com/ironvisor/ironvisor/vmm/virtio"
)

// addDevices puts the legacy devices on the port I/O bus, each with an
// irqfd for its ISA interrupt, wires the ACPI power button's interrupt,
// and puts the virtio-mmio devices on the MMIO bus.
func (v *VM) addDevices() error {
	com1, err := v.irqLine(serial.COM1IRQ)
	if err != nil {
		return err
	}
	v.ring = ring.New(v.cfg.ConsoleRing)
	v.out = serial.NewOutput(v.cfg.Console, v.ring)
	v.out.SetLimit(v.cfg.ConsoleLimit)
	v.uart = serial.New(com1, v.out)
	if err := v.pio.Add(serial.COM1Base, serial.Size, v.uart); err != nil {
		return err
	}
	kbdIRQ, err := v.irqLine(i8042.IRQ)
	if err != nil {
		return err
	}
	v.kbd = i8042.New(kbdIRQ, func() { v.finish(exitcode.Reset, "guest reset through the i8042", nil) })
	if err := v.pio.Add(i8042.Base, i8042.Size, v.kbd); err != nil {
		return err
	}
	if err := v.pio.Add(cmos.Base, cmos.Size, cmos.New(nil)); err != nil {
		return err
	}
	if err := v.addPM(); err != nil {
		return err
	}
	if v.pwrBtn, err = v.irqLine(boot.PowerButtonGSI); err != nil {
		return err
	}
	devs, err := v.virtioDevices()
	if err != nil {
		return err
	}
	for i, d := range devs {
		if err := v.addVirtio(i, d); err != nil {
			return err
		}
	}
	return nil
}

// irqLine returns an interrupt that raises an edge on gsi through an irqfd.
func (v *VM) irqLine(gsi uint32) (*eventFD, error) {
	e, err := newEventFD()
	if err != nil {
		return nil, err
	}
	v.fds = append(v.fds, e)
	if err := v.vm.RegisterIRQFD(e.fd(), gsi); err != nil {
		return nil, err
	}
	return e, nil
}

// virtioDev is one virtio-mmio device with its queue-notify eventfds.
type virtioDev struct {
	name  string
	mmio  *virtio.MMIO
	kicks []*eventFD // one per queue, signalled by KVM on QueueNotify
	wg    sync.WaitGroup
}

// addVirtio places device i at its layout slot: an MMIO window, an irqfd on
// its GSI, and one ioeventfd per queue on QueueNotify matching the queue
// index, so kicks and interrupts never exit to userspace.
func (v *VM) addVirtio(i int, dev virtio.Device) error {
	base, gsi := boot.VirtioMMIODevice(i)
	irq, err := v.irqLine(gsi)
	if err != nil {
		return err
	}
	d := &virtioDev{name: fmt.Sprintf("virtio-%s@%#x", dev.Type(), base), mmio: virtio.NewMMIO(dev, irq)}
	d.mmio.SetLogger(v.log)
	d.mmio.SetMemory(v.mem)
	for q := range dev.QueueSizes() {
		e, err := newEventFD()
		if err != nil {
			return err
		}
		v.fds = append(v.fds, e)
		if err := v.vm.RegisterIOEventFD(base+virtio.NotifyOffset, 4, uint64(q), e.fd()); err != nil {
			return fmt.Errorf("%s queue %d: %w", d.name, q, err)
		}
		d.kicks = append(d.kicks, e)
	}
	v.virt = append(v.virt, d)
	return v.mmio.Add(base, boot.VirtioMMIOSize, &virtioHandler{v: v, d: d})
}

// start runs one goroutine per queue that turns ioeventfd signals into
// kicks. A device the guest breaks stops the VM.
func (d *virtioDev) start(v *VM) {
	for q, e := range d.kicks {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for e.wait() == nil {
				d.mmio.Kick(q)
				v.checkBroken(d)
			}
		}()
	}
}

// stop waits for the kick goroutines; the caller closes the eventfds first.
func (d *virtioDev) stop() { d.wg.Wait() }

// virtioHandler serves MMIO exits for one device and notices a broken one.
type virtioHandler struct {
	v *VM
	d *virtioDev
}

// Read serves a register read.
func (h *virtioHandler) Read(off uint64, data []byte) { h.d.mmio.Read(off, data) }

// Write serves a register write.
func (h *virtioHandler) Write(off uint64, data []byte) {
	h.d.mmio.Write(off, data)
	h.v.checkBroken(h.d)
}

// checkBroken stops the VM if the guest drove d into DEVICE_NEEDS_RESET.
func (v *VM) checkBroken(d *virtioDev) {
	if err := d.mmio.Broken(); err != nil {
		v.finish(exitcode.GuestBrokeDevice, "guest broke "+d.name, err)
	}
}
