// Package serial is a 16550A UART for the guest's COM1 console. Output goes
// to a console writer (log file or stdout) and a bounded ring buffer that the
// control socket reads; input is queued and raises the UART interrupt.
//
// Register semantics follow the TI/National PC16550D datasheet: eight byte
// registers at the I/O base, with LCR.DLAB switching offsets 0 and 1 to the
// baud-rate divisor latch.
package serial

import (
	"sync"
)

// Register offsets from the I/O base (PC16550D table 2).
const (
	regData = 0 // RBR (read) / THR (write); DLL when DLAB=1
	regIER  = 1 // interrupt enable; DLM when DLAB=1
	regIIR  = 2 // interrupt identification (read) / FCR (write)
	regLCR  = 3 // line control
	regMCR  = 4 // modem control
	regLSR  = 5 // line status
	regMSR  = 6 // modem status
	regSCR  = 7 // scratch

	// COM1Base and COM1IRQ are where PCs put the first serial port.
	COM1Base = 0x3f8
	COM1IRQ  = 4
	// Size is the number of I/O ports the UART decodes.
	Size = 8
)

// Register bits.
const (
	ierRDA  = 0x01 // received data available
	ierTHRE = 0x02 // transmitter holding register empty
	ierRLS  = 0x04 // receiver line status
	ierMask = 0x0f

	iirNone     = 0x01 // no interrupt pending
	iirTHRE     = 0x02
	iirRDA      = 0x04
	iirFIFOBits = 0xc0 // FIFOs enabled (16550A)

	fcrEnable = 0x01

	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLoop = 0x10
	mcrMask = 0x1f

	lsrDR   = 0x01 // data ready
	lsrOE   = 0x02 // overrun
	lsrTHRE = 0x20 // THR empty
	lsrTEMT = 0x40 // transmitter empty

	msrCTS = 0x10
	msrDSR = 0x20
	msrRI  = 0x40
	msrDCD = 0x80

	// maxInput bounds the receive queue; further input is dropped and
	// flagged as an overrun.
	maxInput = 4096
)

// Interrupt raises the UART's interrupt line (an edge on IRQ 4).
type Interrupt interface {
	Trigger() error
}

// UART is one 16550A. Read and Write are the I/O port handlers (offset from
// the base); they may be called from any vCPU goroutine. It is safe for
// concurrent use.
type UART struct {
	irq Interrupt
	out *output

	mu sync.Mutex
	// All fields below are guarded by mu.
	ier, lcr, mcr, scr uint8
	dll, dlm           uint8
	fifo               bool   // FCR enable bit
	threPending        bool   // THR-empty interrupt not yet acknowledged
	overrun            bool   // input was dropped since LSR was last read
	in                 []byte // received bytes not yet read by the guest
	irqErr             error  // first failure to raise the interrupt
	counters           Counters
}

// New returns a UART in its reset state whose output goes to out (which may
// be nil) and ring (which may be nil), raising irq for interrupts.
func New(irq Interrupt, out *Output) *UART {
	u := &UART{irq: irq, mcr: mcrOUT2, dll: 12} // 9600 baud, as after BIOS
	if out != nil {
		u.out = out.o
	}
	return u
}

// Read handles a guest read of offset (0..7). data is filled with the
// register value; reads wider than a byte see it in the low byte.
func (u *UART) Read(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	for i := range data {
		data[i] = 0
	}
	u.mu.Lock()
	data[0] = u.readReg(offset)
	u.mu.Unlock()
}

// readReg returns one register, with the side effects of reading it.
func (u *UART) readReg(offset uint64) uint8 {
	dlab := u.lcr&lcrDLAB != 0
	switch offset {
	case regData:
		if dlab {
			return u.dll
		}
		if len(u.in) == 0 {
			return 0
		}
		b := u.in[0]
		u.in = u.in[1:]
		return b
	case regIER:
		if dlab {
			return u.dlm
		}
		return u.ier
	case regIIR:
		return u.readIIR()
	case regLCR:
		return u.lcr
	case regMCR:
		return u.mcr
	case regLSR:
		v := uint8(lsrTHRE | lsrTEMT)
		if len(u.in) > 0 {
			v |= lsrDR
		}
		if u.overrun {
			v |= lsrOE
			u.overrun = false
		}
		return v
	case regMSR:
		return u.msr()
	case regSCR:
		return u.scr
	}
	return 0
}

// readIIR reports the highest-priority pending interrupt (PC16550D table 4)
// and acknowledges a THR-empty one, as the datasheet specifies.
func (u *UART) readIIR() uint8 {
	v := uint8(iirNone)
	switch {
	case u.ier&ierRDA != 0 && len(u.in) > 0:
		v = iirRDA
	case u.ier&ierTHRE != 0 && u.threPending:
		v = iirTHRE
		u.threPending = false
	}
	if u.fifo {
		v |= iirFIFOBits
	}
	return v
}

// msr returns the modem status. In loopback the outputs of MCR feed the
// inputs (PC16550D, MCR bit 4); otherwise the line is always ready.
func (u *UART) msr() uint8 {
	if u.mcr&mcrLoop == 0 {
		return msrDCD | msrDSR | msrCTS
	}
	var v uint8
	if u.mcr&mcrRTS != 0 {
		v |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		v |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		v |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		v |= msrDCD
	}
	return v
}

// Write handles a guest write of offset (0..7); only the low byte counts.
func (u *UART) Write(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	v := data[0]
	u.mu.Lock()
	raise, tx := u.writeReg(offset, v)
	if raise {
		u.counters.Interrupts++
	}
	u.mu.Unlock()
	if tx && u.out != nil {
		u.out.writeByte(v)
	}
	if raise {
		u.trigger()
	}
}

// writeReg applies one register write. It reports whether an interrupt
// must be raised and whether v was transmitted to the console.
func (u *UART) writeReg(offset uint64, v uint8) (raise, tx bool) {
	dlab := u.lcr&lcrDLAB != 0
	switch offset {
	case regData:
		if dlab {
			u.dll = v
			return false, false
		}
		if u.mcr&mcrLoop != 0 {
			return u.receiveLocked([]byte{v}), false
		}
		u.counters.TxBytes++
		// The byte leaves at once, so THR is empty again.
		u.threPending = true
		return u.ier&ierTHRE != 0, true
	case regIER:
		if dlab {
			u.dlm = v
			return false, false
		}
		old := u.ier
		u.ier = v & ierMask
		// Enabling THRE while THR is empty raises it at once.
		if old&ierTHRE == 0 && u.ier&ierTHRE != 0 {
			u.threPending = true
			return true, false
		}
		return u.ier&ierRDA != 0 && old&ierRDA == 0 && len(u.in) > 0, false
	case regIIR: // FCR
		u.fifo = v&fcrEnable != 0
		if v&0x02 != 0 { // clear receive FIFO
			u.in = nil
		}
	case regLCR:
		u.lcr = v
	case regMCR:
		u.mcr = v & mcrMask
	case regSCR:
		u.scr = v
	}
	return false, false
}

// Input queues bytes the guest will read from RBR and raises the receive
// interrupt if it is enabled. Bytes beyond the queue bound are dropped,
// counted (RxDropped) and reported to the guest as an overrun. It returns
// how many bytes were queued.
func (u *UART) Input(p []byte) int {
	u.mu.Lock()
	n := len(u.in)
	raise := u.receiveLocked(p)
	n = len(u.in) - n
	if raise {
		u.counters.Interrupts++
	}
	u.mu.Unlock()
	if raise {
		u.trigger()
	}
	return n
}

// receiveLocked appends p to the receive queue and reports whether the
// receive interrupt must be raised.
func (u *UART) receiveLocked(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	room := maxInput - len(u.in)
	if len(p) > room {
		u.counters.RxDropped += uint64(len(p) - room)
		u.overrun = true
		p = p[:room]
	}
	if len(u.in) == 0 {
		u.in = nil // let the drained queue's backing array go
	}
	u.in = append(u.in, p...)
	u.counters.RxBytes += uint64(len(p))
	return u.ier&ierRDA != 0 && len(p) > 0
}

// trigger raises the interrupt line, remembering the first failure.
func (u *UART) trigger() {
	if u.irq == nil {
		return
	}
	if err := u.irq.Trigger(); err != nil {
		u.mu.Lock()
		if u.irqErr == nil {
			u.irqErr = err
		}
		u.mu.Unlock()
	}
}

// Err returns the first error raising the interrupt, if any.
func (u *UART) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.irqErr
}
