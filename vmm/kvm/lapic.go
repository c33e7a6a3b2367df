package kvm

import "encoding/binary"

// Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3,
// 11.4.1 and 11.5.1).
const (
	LAPICRegID    = 0x20
	LAPICRegLINT0 = 0x350
	LAPICRegLINT1 = 0x360

	// LVTDeliveryExtINT and LVTDeliveryNMI are LVT delivery modes (bits 8-10).
	LVTDeliveryExtINT = 7
	LVTDeliveryNMI    = 4
)

// Reg returns the 32-bit APIC register at offset off, or 0 if off is outside
// the page.
func (s *LAPICState) Reg(off int) uint32 {
	if off < 0 || off+4 > len(s.Regs) {
		return 0
	}
	return binary.LittleEndian.Uint32(s.Regs[off:])
}

// SetReg writes the 32-bit APIC register at offset off; offsets outside the
// page are ignored.
func (s *LAPICState) SetReg(off int, v uint32) {
	if off < 0 || off+4 > len(s.Regs) {
		return
	}
	binary.LittleEndian.PutUint32(s.Regs[off:], v)
}

// SetLVTDelivery sets the delivery mode (bits 8-10) of the LVT register at
// off, keeping its other bits.
func (s *LAPICState) SetLVTDelivery(off int, mode uint32) {
	v := s.Reg(off)
	v = v&^(0x7<<8) | (mode&0x7)<<8
	s.SetReg(off, v)
}
