// Package cmos is the PC's MC146818 real-time clock and its CMOS RAM, at
// I/O ports 0x70 (index) and 0x71 (data). Linux probes it at boot
// (rtc_cmos) and spins while the update-in-progress bit reads as set, so a
// machine without it must answer; this one reports the host's time, never
// an update in progress, and keeps the rest of the 128 bytes as RAM.
//
// Reference: the Motorola MC146818A datasheet (registers A-D, BCD and
// binary data modes, 12/24-hour mode).
package cmos

import (
	"sync"
	"time"
)

// Port layout.
const (
	Base    = 0x70
	Size    = 2
	offIdx  = 0
	offData = 1
)

// Clock and status registers.
const (
	regSeconds = 0x00
	regMinutes = 0x02
	regHours   = 0x04
	regWeekday = 0x06
	regDay     = 0x07
	regMonth   = 0x08
	regYear    = 0x09
	regA       = 0x0a
	regB       = 0x0b
	regC       = 0x0c
	regD       = 0x0d
	// regCentury is where PCs keep the century (the ACPI FADT CENTURY
	// field conventionally points here).
	regCentury = 0x32

	bHour24  = 0x02 // register B: 24-hour mode
	bBinary  = 0x04 // register B: binary, not BCD
	dVRT     = 0x80 // register D: valid RAM and time
	aDefault = 0x26 // register A: 32.768 kHz time base, 1.024 kHz rate, UIP clear
	pmBit    = 0x80 // hour register in 12-hour mode: PM
)

// RTC is the clock and CMOS RAM. It is safe for concurrent use.
type RTC struct {
	now func() time.Time

	mu sync.Mutex
	// idx and ram are guarded by mu.
	idx uint8
	ram [128]byte
}

// New returns an RTC reading time from now (time.Now if nil), in the BCD,
// 24-hour mode a PC BIOS leaves it in.
func New(now func() time.Time) *RTC {
	if now == nil {
		now = time.Now
	}
	r := &RTC{now: now}
	r.ram[regA] = aDefault
	r.ram[regB] = bHour24
	r.ram[regD] = dVRT
	return r
}

// Read handles a guest read; only the data port returns anything.
func (r *RTC) Read(offset uint64, data []byte) {
	clear(data)
	if offset != offData || len(data) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	data[0] = r.reg(r.idx)
}

// Write handles a guest write: an index (bit 7 is the NMI mask, ignored)
// or a register value.
func (r *RTC) Write(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch offset {
	case offIdx:
		r.idx = data[0] & 0x7f
	case offData:
		r.set(r.idx, data[0])
	}
}

// reg returns register i, computing the clock registers from the host time.
func (r *RTC) reg(i uint8) uint8 {
	t := r.now().UTC()
	switch i {
	case regSeconds:
		return r.enc(t.Second())
	case regMinutes:
		return r.enc(t.Minute())
	case regHours:
		return r.hour(t.Hour())
	case regWeekday:
		return r.enc(int(t.Weekday()) + 1)
	case regDay:
		return r.enc(t.Day())
	case regMonth:
		return r.enc(int(t.Month()))
	case regYear:
		return r.enc(t.Year() % 100)
	case regCentury:
		return r.enc(t.Year() / 100)
	case regC:
		return 0 // no interrupt flags: reading clears them
	}
	return r.ram[i&0x7f]
}

// set writes register i. The clock registers follow the host and ignore
// writes; UIP in A and VRT in D are read-only.
func (r *RTC) set(i, v uint8) {
	switch i {
	case regSeconds, regMinutes, regHours, regWeekday, regDay, regMonth, regYear, regCentury, regC, regD:
	case regA:
		r.ram[regA] = v & 0x7f
	default:
		r.ram[i&0x7f] = v
	}
}

// enc encodes a clock value in the mode register B selects.
func (r *RTC) enc(v int) uint8 {
	if r.ram[regB]&bBinary != 0 {
		return uint8(v)
	}
	return uint8(v/10<<4 | v%10)
}

// hour encodes the hour in 24- or 12-hour mode.
func (r *RTC) hour(h int) uint8 {
	if r.ram[regB]&bHour24 != 0 {
		return r.enc(h)
	}
	pm := h >= 12
	h %= 12
	if h == 0 {
		h = 12
	}
	v := r.enc(h)
	if pm {
		v |= pmBit
	}
	return v
}
