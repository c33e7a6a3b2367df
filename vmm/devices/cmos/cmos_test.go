package cmos

import (
	"testing"
	"time"
)

var fixed = time.Date(2026, time.November, 28, 15, 4, 5, 0, time.UTC) // a Saturday

func get(r *RTC, i uint8) uint8 {
	r.Write(offIdx, []byte{i | 0x80}) // NMI mask bit set, as Linux does
	b := []byte{0xee}
	r.Read(offData, b)
	return b[0]
}

func TestBCD24(t *testing.T) {
	r := New(func() time.Time { return fixed })
	for _, tc := range []struct{ reg, want uint8 }{
		{regSeconds, 0x05}, {regMinutes, 0x04}, {regHours, 0x15}, {regWeekday, 0x07},
		{regDay, 0x28}, {regMonth, 0x11}, {regYear, 0x26}, {regCentury, 0x20},
		{regA, aDefault}, {regD, dVRT},
	} {
		if got := get(r, tc.reg); got != tc.want {
			t.Errorf("reg %#x = %#x, want %#x", tc.reg, got, tc.want)
		}
	}
	if get(r, regA)&0x80 != 0 {
		t.Error("update in progress reported")
	}
}

func TestBinary12Hour(t *testing.T) {
	r := New(func() time.Time { return fixed })
	r.Write(offIdx, []byte{regB})
	r.Write(offData, []byte{bBinary}) // binary, 12-hour
	if got := get(r, regHours); got != 3|pmBit {
		t.Errorf("hour = %#x, want 3 PM", got)
	}
	if got := get(r, regDay); got != 28 {
		t.Errorf("day = %d", got)
	}
}

func TestRAMAndReadOnly(t *testing.T) {
	r := New(func() time.Time { return fixed })
	r.Write(offIdx, []byte{0x40})
	r.Write(offData, []byte{0x5a})
	if get(r, 0x40) != 0x5a {
		t.Error("CMOS RAM not kept")
	}
	r.Write(offIdx, []byte{regSeconds})
	r.Write(offData, []byte{0x59})
	if get(r, regSeconds) != 0x05 {
		t.Error("clock register took a write")
	}
	r.Write(offIdx, []byte{regA})
	r.Write(offData, []byte{0xff})
	if get(r, regA)&0x80 != 0 {
		t.Error("UIP became set by a write")
	}
}

func FuzzRTC(f *testing.F) {
	f.Add([]byte{0x00, 0x0b, 0x01, 0x06, 0x00, 0x04, 0x81, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := New(func() time.Time { return fixed })
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint64(ops[i] & 0x3)
			if ops[i]&0x80 != 0 {
				r.Write(off, ops[i+1:i+2])
			} else {
				b := make([]byte, 1+int(ops[i+1]&3))
				r.Read(off, b)
			}
		}
		if get(r, regA)&0x80 != 0 {
			t.Fatal("update in progress reported")
		}
	})
}
