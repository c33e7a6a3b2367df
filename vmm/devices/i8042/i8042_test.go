package i8042

import (
	"bytes"
	"testing"
)

type countIRQ struct{ n int }

func (c *countIRQ) Trigger() error { c.n++; return nil }

func rd(c *Controller, off uint64) byte { b := []byte{0xee}; c.Read(off, b); return b[0] }

func TestPulseResetRequestsReset(t *testing.T) {
	resets := 0
	c := New(nil, func() { resets++ })
	c.Write(offCmd, []byte{cmdPulseReset})
	if resets != 1 {
		t.Fatalf("resets = %d, want 1", resets)
	}
	c.Write(offData, []byte{cmdPulseReset}) // 0xFE on the data port is not a reset
	if resets != 1 {
		t.Fatalf("data-port 0xFE reset the machine")
	}
}

func TestSelfTestAndCommandByte(t *testing.T) {
	irq := &countIRQ{}
	c := New(irq, nil)
	if rd(c, offCmd)&statOBF != 0 {
		t.Fatal("output buffer full at reset")
	}
	c.Write(offCmd, []byte{cmdSelfTest})
	if rd(c, offCmd)&statOBF == 0 || rd(c, offData) != 0x55 {
		t.Fatal("self test did not answer 0x55")
	}
	c.Write(offCmd, []byte{cmdWriteCTR})
	c.Write(offData, []byte{0x00}) // interrupts off
	c.Write(offCmd, []byte{cmdReadCTR})
	if got := rd(c, offData); got != 0 {
		t.Fatalf("CTR = %#x, want 0", got)
	}
	if irq.n != 1 { // the self test answer; CTR 0 was read with interrupts off
		t.Fatalf("interrupts = %d, want 1", irq.n)
	}
	if rd(c, offCmd)&statOBF != 0 {
		t.Fatal("OBF after draining")
	}
}

func TestKeyboardResetAck(t *testing.T) {
	c := New(nil, nil)
	c.Write(offData, []byte{kbdReset})
	if a, b := rd(c, offData), rd(c, offData); a != kbdAck || b != kbdBAT {
		t.Fatalf("keyboard reset answered %#x %#x", a, b)
	}
}

func TestCtrlAltDel(t *testing.T) {
	irq := &countIRQ{}
	c := New(irq, nil)
	c.Write(offCmd, []byte{cmdWriteCTR})
	c.Write(offData, []byte{ctrKbdInt}) // translation off: set 2
	if !c.SendCtrlAltDel() {
		t.Fatal("Ctrl-Alt-Del did not fit")
	}
	if irq.n != 1 {
		t.Fatalf("interrupts = %d, want 1", irq.n)
	}
	if got := drain(c); !bytes.Equal(got, CtrlAltDel) {
		t.Fatalf("scancodes % x, want % x", got, CtrlAltDel)
	}
	// One interrupt per byte: the first when queued, one more for each
	// byte that moves into the output buffer after a read.
	if irq.n != len(CtrlAltDel) {
		t.Fatalf("interrupts = %d, want one per byte (%d)", irq.n, len(CtrlAltDel))
	}
}

// drain reads the output buffer until it is empty.
func drain(c *Controller) []byte {
	var got []byte
	for rd(c, offCmd)&statOBF != 0 {
		got = append(got, rd(c, offData))
	}
	return got
}

// TestCtrlAltDelTranslated: with translation on (the reset default), the
// keys arrive in set 1, each release the make code with bit 7 set.
func TestCtrlAltDelTranslated(t *testing.T) {
	c := New(nil, nil)
	if !c.SendCtrlAltDel() {
		t.Fatal("Ctrl-Alt-Del did not fit")
	}
	got := drain(c)
	if !bytes.Equal(got, CtrlAltDelXlate) {
		t.Fatalf("scancodes % x, want % x", got, CtrlAltDelXlate)
	}
	for _, pair := range [][2]int{{0, 7}, {1, 6}, {3, 5}} { // make/break of Ctrl, Alt, Delete
		if got[pair[1]] != got[pair[0]]|0x80 {
			t.Errorf("break %#x is not make %#x | 0x80", got[pair[1]], got[pair[0]])
		}
	}
}

func TestQueueBounded(t *testing.T) {
	c := New(nil, nil)
	if n := c.SendKeys(make([]byte, 100)); n != maxQueue {
		t.Fatalf("queued %d, want %d", n, maxQueue)
	}
	if c.SendCtrlAltDel() {
		t.Fatal("Ctrl-Alt-Del reported queued into a full buffer")
	}
}

func FuzzController(f *testing.F) {
	f.Add([]byte{0x84, 0xaa, 0x00, 0x00, 0x84, 0x60, 0x80, 0x00, 0x84, 0xfe})
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := New(&countIRQ{}, func() {})
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint64(ops[i] & 0x07)
			if ops[i]&0x80 != 0 {
				c.Write(off, ops[i+1:i+2])
			} else {
				rd(c, off)
			}
			c.mu.Lock()
			n := len(c.out)
			c.mu.Unlock()
			if n > maxQueue {
				t.Fatalf("queue grew to %d", n)
			}
		}
	})
}

// TestPortEnableBitsInCommandByte: Linux checks that disabling the AUX port
// shows in the command byte, and warns about a keylock unless status bit 4
// is set.
func TestPortEnableBitsInCommandByte(t *testing.T) {
	c := New(nil, nil)
	if rd(c, offCmd)&statUnlock == 0 {
		t.Fatal("keylock reported")
	}
	ctr := func() byte { c.Write(offCmd, []byte{cmdReadCTR}); return rd(c, offData) }
	c.Write(offCmd, []byte{cmdAuxDisable})
	c.Write(offCmd, []byte{cmdKbdDisable})
	if v := ctr(); v&(ctrAuxDis|ctrKbdDis) != ctrAuxDis|ctrKbdDis {
		t.Fatalf("CTR %#x after disabling both ports", v)
	}
	c.Write(offCmd, []byte{cmdAuxEnable})
	c.Write(offCmd, []byte{cmdKbdEnable})
	if v := ctr(); v&(ctrAuxDis|ctrKbdDis) != 0 {
		t.Fatalf("CTR %#x after enabling both ports", v)
	}
}

// TestPowerKey: the Power key arrives as E0 37 (set 2) or E0 5E (set 1,
// translation on), each followed by its release, which Linux's atkbd maps
// to KEY_POWER.
func TestPowerKey(t *testing.T) {
	c := New(nil, nil)
	if !c.SendPowerKey() {
		t.Fatal("the Power key did not fit")
	}
	if got, want := drain(c), []byte{0xe0, 0x5e, 0xe0, 0xde}; !bytes.Equal(got, want) {
		t.Fatalf("translated scancodes % x, want % x", got, want)
	}
	c.Write(offCmd, []byte{cmdWriteCTR})
	c.Write(offData, []byte{ctrKbdInt}) // translation off: set 2
	if !c.SendPowerKey() {
		t.Fatal("the Power key did not fit")
	}
	if got, want := drain(c), []byte{0xe0, 0x37, 0xe0, 0xf0, 0x37}; !bytes.Equal(got, want) {
		t.Fatalf("set 2 scancodes % x, want % x", got, want)
	}
}
