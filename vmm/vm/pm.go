package vm

import "sync"

// pmDevice is the ACPI fixed-hardware PM1a control register (ACPI 6.5
// §4.8.3.2.1): the guest writes SLP_TYP and SLP_EN to enter a sleep state,
// and the S5 (soft-off) type powers the machine off. Linux's poweroff does
// exactly that, with SLP_TYP taken from the DSDT's \_S5 package.
type pmDevice struct {
	s5       uint16 // SLP_TYP value for S5, as the DSDT declares it
	poweroff func()

	mu  sync.Mutex
	cnt uint16 // last value written, without SLP_EN; guarded by mu
}

// PM1 control register bits.
const (
	pm1SlpTypShift = 10
	pm1SlpTypMask  = 0x7 << pm1SlpTypShift
	pm1SlpEn       = 1 << 13
)

// Read returns the PM1 control register (SLP_EN reads as zero).
func (p *pmDevice) Read(off uint64, data []byte) {
	clear(data)
	if off != 0 || len(data) < 2 {
		return
	}
	p.mu.Lock()
	data[0], data[1] = byte(p.cnt), byte(p.cnt>>8)
	p.mu.Unlock()
}

// Write takes a PM1 control write; SLP_EN with the S5 type powers off.
func (p *pmDevice) Write(off uint64, data []byte) {
	if off != 0 || len(data) < 2 {
		return
	}
	v := uint16(data[0]) | uint16(data[1])<<8
	p.mu.Lock()
	p.cnt = v &^ pm1SlpEn
	p.mu.Unlock()
	if v&pm1SlpEn != 0 && (v&pm1SlpTypMask)>>pm1SlpTypShift == p.s5 {
		p.poweroff()
	}
}
