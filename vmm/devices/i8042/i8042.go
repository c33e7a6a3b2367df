// Package i8042 is the PC keyboard controller, reduced to what a VMM needs:
// the guest resets the machine by pulsing the reset line (command 0xFE to
// port 0x64, Linux's reboot=k), and the host asks the guest for a graceful
// shutdown by typing Ctrl-Alt-Del.
//
// The controller answers the probe and self-test commands Linux's i8042
// driver sends (command byte, self test, interface test), so the driver
// binds and the keyboard interrupt delivers injected keys. Reference: the
// IBM PC/AT technical reference (8042 commands) and Linux
// drivers/input/serio/i8042.h for the command values.
package i8042

import "sync"

// Port layout: the data port is at Base, the status/command port at Base+4.
const (
	Base     = 0x60
	Size     = 5 // ports 0x60..0x64; 0x61..0x63 belong to others and read 0xff
	IRQ      = 1 // keyboard interrupt
	offData  = 0
	offCmd   = 4
	maxQueue = 16
)

// Status register bits.
const (
	statOBF    = 0x01 // output buffer full
	statSYS    = 0x04 // system flag: self test passed
	statCMD    = 0x08 // last write was to the command port
	statUnlock = 0x10 // keyboard not inhibited (no keylock)
)

// Controller commands (port 0x64).
const (
	cmdReadCTR     = 0x20
	cmdWriteCTR    = 0x60
	cmdAuxDisable  = 0xa7
	cmdAuxEnable   = 0xa8
	cmdAuxTest     = 0xa9
	cmdSelfTest    = 0xaa
	cmdKbdTest     = 0xab
	cmdKbdDisable  = 0xad
	cmdKbdEnable   = 0xae
	cmdReadOutPort = 0xd0
	cmdWriteOut    = 0xd1
	cmdWriteAux    = 0xd4
	cmdPulseReset  = 0xfe

	ctrKbdInt = 0x01 // controller command byte: keyboard interrupt enable
	ctrKbdDis = 0x10 // keyboard clock disabled
	ctrAuxDis = 0x20 // aux (mouse) clock disabled
	ctrXlate  = 0x40

	kbdAck   = 0xfa
	kbdReset = 0xff
	kbdBAT   = 0xaa // basic assurance test passed
)

// CtrlAltDel is the scancode set 2 sequence for pressing and releasing
// Ctrl-Alt-Del (left Ctrl, left Alt, Delete), as a PS/2 keyboard sends it.
var CtrlAltDel = []byte{
	0x14, 0x11, 0xe0, 0x71, // make: Ctrl, Alt, E0 Delete
	0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14, // break, in reverse
}

// CtrlAltDelXlate is the same keys as the controller delivers them with
// translation on (command byte bit 6, as PCs boot): scancode set 1, where a
// release is the make code with bit 7 set.
var CtrlAltDelXlate = []byte{
	0x1d, 0x38, 0xe0, 0x53, // make: Ctrl, Alt, E0 Delete
	0xe0, 0xd3, 0xb8, 0x9d, // break, in reverse
}

// PowerKey is the scancode set 2 sequence for pressing and releasing the
// Power key of an ACPI keyboard (E0 37), which Linux's atkbd reports as
// KEY_POWER: systemd-logind then powers off, as for the ACPI power
// button.
var PowerKey = []byte{0xe0, 0x37, 0xe0, 0xf0, 0x37}

// PowerKeyXlate is the Power key in scancode set 1 (E0 5E), as the
// controller delivers it with translation on.
var PowerKeyXlate = []byte{0xe0, 0x5e, 0xe0, 0xde}

// Interrupt raises the keyboard interrupt line (an edge on IRQ 1).
type Interrupt interface {
	Trigger() error
}

// Controller is one i8042. Read and Write take offsets from Base. It is safe
// for concurrent use.
type Controller struct {
	irq     Interrupt
	onReset func()

	mu sync.Mutex
	// All fields below are guarded by mu.
	status  uint8
	ctr     uint8
	pending uint8 // command awaiting its data byte, or 0
	out     []byte
}

// New returns a controller that raises irq for keyboard data and calls
// onReset (from the vCPU goroutine) when the guest pulses the reset line.
func New(irq Interrupt, onReset func()) *Controller {
	return &Controller{irq: irq, onReset: onReset, status: statSYS | statUnlock, ctr: ctrKbdInt | ctrXlate}
}

// Read handles a guest read at offset.
func (c *Controller) Read(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	for i := range data {
		data[i] = 0
	}
	c.mu.Lock()
	more := false
	switch offset {
	case offData:
		if len(c.out) > 0 {
			data[0] = c.out[0]
			c.out = c.out[1:]
			// The next byte moves into the output buffer and interrupts
			// again: Linux's handler reads one byte per interrupt.
			more = len(c.out) > 0 && c.ctr&ctrKbdInt != 0
		}
		c.syncOBF()
	case offCmd:
		data[0] = c.status
	default:
		data[0] = 0xff
	}
	c.mu.Unlock()
	if more && c.irq != nil {
		c.irq.Trigger()
	}
}

// Write handles a guest write at offset.
func (c *Controller) Write(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	v := data[0]
	c.mu.Lock()
	var reset, raise bool
	switch offset {
	case offCmd:
		c.status |= statCMD
		reset, raise = c.command(v)
	case offData:
		c.status &^= statCMD
		raise = c.data(v)
	}
	c.mu.Unlock()
	if reset && c.onReset != nil {
		c.onReset()
	}
	if raise && c.irq != nil {
		c.irq.Trigger()
	}
}

// command runs a controller command and reports whether it asked for a
// reset or produced interrupt-worthy output.
func (c *Controller) command(v uint8) (reset, raise bool) {
	c.pending = 0
	switch v {
	case cmdReadCTR:
		return false, c.push(c.ctr)
	case cmdWriteCTR, cmdWriteOut, cmdWriteAux:
		c.pending = v
	case cmdSelfTest:
		return false, c.push(0x55)
	case cmdKbdTest, cmdAuxTest:
		return false, c.push(0x00)
	case cmdReadOutPort:
		return false, c.push(0x01) // reset line high: running
	case cmdPulseReset:
		return true, false
	case cmdKbdDisable:
		c.ctr |= ctrKbdDis
	case cmdKbdEnable:
		c.ctr &^= ctrKbdDis
	case cmdAuxDisable:
		c.ctr |= ctrAuxDis
	case cmdAuxEnable:
		c.ctr &^= ctrAuxDis
	}
	return false, false
}

// data takes a byte written to port 0x60: the argument of a pending
// controller command, or a command for the keyboard itself.
func (c *Controller) data(v uint8) (raise bool) {
	switch c.pending {
	case cmdWriteCTR:
		c.pending = 0
		c.ctr = v
		return false
	case cmdWriteOut, cmdWriteAux:
		c.pending = 0 // no mouse; output port changes are ignored
		return false
	}
	// A keyboard command: acknowledge it; a reset also reports BAT success.
	raise = c.push(kbdAck)
	if v == kbdReset {
		c.push(kbdBAT)
	}
	return raise
}

// push queues a byte for the guest to read from port 0x60 and reports
// whether the keyboard interrupt should fire. A full queue drops the byte.
func (c *Controller) push(b byte) bool {
	if len(c.out) >= maxQueue {
		return false
	}
	c.out = append(c.out, b)
	c.syncOBF()
	return c.ctr&ctrKbdInt != 0
}

// syncOBF sets the output-buffer-full bit from the queue.
func (c *Controller) syncOBF() {
	if len(c.out) > 0 {
		c.status |= statOBF
	} else {
		c.status &^= statOBF
	}
}

// SendKeys queues scancodes as if typed and raises the keyboard interrupt.
// Bytes that do not fit the controller's queue are dropped; SendKeys reports
// how many were queued.
func (c *Controller) SendKeys(codes []byte) int {
	c.mu.Lock()
	n := 0
	raise := false
	for _, b := range codes {
		if len(c.out) >= maxQueue {
			break
		}
		raise = c.push(b) || raise
		n++
	}
	c.mu.Unlock()
	if raise && c.irq != nil {
		c.irq.Trigger()
	}
	return n
}

// SendPowerKey presses and releases the Power key, asking a guest whose
// init watches it (systemd-logind) to power off, in the scancode set the
// guest reads.
func (c *Controller) SendPowerKey() bool { return c.sendInSet(PowerKey, PowerKeyXlate) }

// SendCtrlAltDel types Ctrl-Alt-Del, asking the guest to shut down, in the
// scancode set the guest reads: set 1 while the guest keeps translation on
// in the command byte, set 2 otherwise.
func (c *Controller) SendCtrlAltDel() bool { return c.sendInSet(CtrlAltDel, CtrlAltDelXlate) }

// sendInSet types set2, or xlate (the same keys in set 1) while the guest
// keeps translation on, and reports whether all of it was queued.
func (c *Controller) sendInSet(set2, xlate []byte) bool {
	c.mu.Lock()
	keys := set2
	if c.ctr&ctrXlate != 0 {
		keys = xlate
	}
	c.mu.Unlock()
	return c.SendKeys(keys) == len(keys)
}
