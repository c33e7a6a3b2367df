package serial

import (
	"bytes"
	"sync"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/ring"
)

// countIRQ counts interrupts.
type countIRQ struct {
	mu sync.Mutex
	n  int
}

func (c *countIRQ) Trigger() error { c.mu.Lock(); c.n++; c.mu.Unlock(); return nil }
func (c *countIRQ) count() int     { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func rd(u *UART, off uint64) uint8    { b := []byte{0xee}; u.Read(off, b); return b[0] }
func wr(u *UART, off uint64, v uint8) { u.Write(off, []byte{v}) }

func newTest() (*UART, *countIRQ, *bytes.Buffer, *Output) {
	irq := &countIRQ{}
	var buf bytes.Buffer
	out := NewOutput(&buf, ring.New(64))
	return New(irq, out), irq, &buf, out
}

func TestResetState(t *testing.T) {
	u, _, _, _ := newTest()
	if v := rd(u, regLSR); v != lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#x, want THRE|TEMT", v)
	}
	if v := rd(u, regIIR); v != iirNone {
		t.Errorf("IIR = %#x, want no interrupt", v)
	}
	if v := rd(u, regIER); v != 0 {
		t.Errorf("IER = %#x", v)
	}
	if v := rd(u, regMSR); v != msrDCD|msrDSR|msrCTS {
		t.Errorf("MSR = %#x", v)
	}
}

func TestTransmitToConsoleAndRing(t *testing.T) {
	u, irq, buf, out := newTest()
	for _, c := range []byte("hello\n") {
		wr(u, regData, c)
	}
	if buf.String() != "hello\n" {
		t.Fatalf("console got %q", buf.String())
	}
	wr(u, regData, '>') // partial line: visible after Flush
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, next := out.Ring().Read(0, 100); string(got) != "hello\n>" || next != 7 {
		t.Fatalf("ring got %q next %d", got, next)
	}
	if irq.count() != 0 {
		t.Fatalf("THRE interrupt with IER=0: %d", irq.count())
	}
	if c := u.Counters(); c.TxBytes != 7 {
		t.Fatalf("TxBytes = %d", c.TxBytes)
	}
}

func TestDivisorLatch(t *testing.T) {
	u, _, buf, _ := newTest()
	wr(u, regLCR, lcrDLAB|0x03)
	wr(u, regData, 0x01) // DLL: not transmitted
	wr(u, regIER, 0x00)  // DLM
	if rd(u, regData) != 0x01 || rd(u, regIER) != 0 {
		t.Fatal("divisor latch not read back")
	}
	wr(u, regLCR, 0x03)
	if buf.Len() != 0 {
		t.Fatalf("DLL write was transmitted: %q", buf.String())
	}
	if rd(u, regLCR) != 0x03 {
		t.Fatal("LCR not read back")
	}
}

func TestScratch(t *testing.T) {
	u, _, _, _ := newTest()
	for _, v := range []uint8{0x55, 0xaa, 0} {
		wr(u, regSCR, v)
		if got := rd(u, regSCR); got != v {
			t.Errorf("SCR = %#x, want %#x", got, v)
		}
	}
}

// TestLoopback follows the 8250 driver's probe: with MCR loop set, MSR
// mirrors the MCR outputs and THR feeds RBR.
func TestLoopback(t *testing.T) {
	u, _, buf, _ := newTest()
	wr(u, regMCR, mcrLoop|0x0a) // RTS|OUT2
	if v := rd(u, regMSR) & 0xf0; v != msrCTS|msrDCD {
		t.Fatalf("loop MSR = %#x, want CTS|DCD", v)
	}
	wr(u, regMCR, mcrLoop|0x05) // DTR|OUT1
	if v := rd(u, regMSR) & 0xf0; v != msrDSR|msrRI {
		t.Fatalf("loop MSR = %#x, want DSR|RI", v)
	}
	wr(u, regData, 'x')
	if rd(u, regLSR)&lsrDR == 0 || rd(u, regData) != 'x' {
		t.Fatal("loopback byte not received")
	}
	if buf.Len() != 0 {
		t.Fatal("loopback byte reached the console")
	}
}

// TestFIFOIdentifies16550A: with FCR enable set, IIR bits 6-7 read 11, which
// is how Linux tells a 16550A.
func TestFIFOIdentifies16550A(t *testing.T) {
	u, _, _, _ := newTest()
	wr(u, regIIR, fcrEnable)
	if v := rd(u, regIIR); v&iirFIFOBits != iirFIFOBits {
		t.Fatalf("IIR = %#x, FIFO bits not set", v)
	}
	wr(u, regIIR, 0)
	if v := rd(u, regIIR); v&iirFIFOBits != 0 {
		t.Fatalf("IIR = %#x after FIFO disable", v)
	}
}

func TestTHREInterrupt(t *testing.T) {
	u, irq, _, _ := newTest()
	wr(u, regIER, ierTHRE) // enabling with THR empty raises at once
	if irq.count() != 1 {
		t.Fatalf("interrupts = %d, want 1", irq.count())
	}
	if v := rd(u, regIIR); v&0x0f != iirTHRE {
		t.Fatalf("IIR = %#x, want THRE", v)
	}
	if v := rd(u, regIIR); v&0x0f != iirNone {
		t.Fatalf("IIR after ack = %#x, want none", v)
	}
	wr(u, regData, 'a')
	if irq.count() != 2 || rd(u, regIIR)&0x0f != iirTHRE {
		t.Fatal("THR write did not raise THRE")
	}
}

func TestReceive(t *testing.T) {
	u, irq, _, _ := newTest()
	u.Input([]byte("ab")) // IER=0: queued, no interrupt
	if irq.count() != 0 {
		t.Fatal("interrupt with receive disabled")
	}
	wr(u, regIER, ierRDA) // pending data raises at enable
	if irq.count() != 1 {
		t.Fatalf("interrupts = %d after enabling RDA", irq.count())
	}
	if v := rd(u, regIIR); v&0x0f != iirRDA {
		t.Fatalf("IIR = %#x, want RDA", v)
	}
	if rd(u, regData) != 'a' || rd(u, regData) != 'b' {
		t.Fatal("wrong bytes received")
	}
	if rd(u, regLSR)&lsrDR != 0 || rd(u, regIIR)&0x0f != iirNone {
		t.Fatal("data ready after queue drained")
	}
	if rd(u, regData) != 0 {
		t.Fatal("empty RBR not zero")
	}
}

func TestReceiveOverrun(t *testing.T) {
	u, _, _, _ := newTest()
	u.Input(make([]byte, maxInput+10))
	if c := u.Counters(); c.RxDropped != 10 || c.RxBytes != maxInput {
		t.Fatalf("counters %+v", c)
	}
	if rd(u, regLSR)&lsrOE == 0 {
		t.Fatal("overrun not reported")
	}
	if rd(u, regLSR)&lsrOE != 0 {
		t.Fatal("overrun not cleared by reading LSR")
	}
}

func TestWideAndEmptyAccess(t *testing.T) {
	u, _, _, _ := newTest()
	wr(u, regSCR, 0x42)
	b := []byte{1, 2, 3, 4}
	u.Read(regSCR, b)
	if b[0] != 0x42 || b[1]|b[2]|b[3] != 0 {
		t.Fatalf("wide read % x", b)
	}
	u.Read(regSCR, nil)
	u.Write(regSCR, nil)
	u.Read(1000, b)
	u.Write(1000, b)
}

func FuzzUART(f *testing.F) {
	f.Add([]byte{0x13, 0x80, 0x00, 0x41, 0x03, 0x10, 0x00, 0x61, 0x85})
	f.Fuzz(func(t *testing.T, ops []byte) {
		irq := &countIRQ{}
		u := New(irq, NewOutput(nil, ring.New(16)))
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint64(ops[i] & 0x0f) // includes out-of-range offsets 8..15
			switch {
			case ops[i]&0x80 != 0:
				wr(u, off, ops[i+1])
			case ops[i]&0x40 != 0:
				u.Input(ops[i+1 : i+2])
			default:
				rd(u, off)
			}
		}
		if c := u.Counters(); c.TxBytes+c.RxBytes > uint64(len(ops)) {
			t.Fatalf("counters %+v exceed %d operations", c, len(ops))
		}
	})
}

// TestConsoleLimit: past its limit the console writer gets a note and then
// nothing more, while the ring keeps the newest output.
func TestConsoleLimit(t *testing.T) {
	var buf bytes.Buffer
	out := NewOutput(&buf, ring.New(8))
	out.SetLimit(10)
	u := New(nil, out)
	for _, c := range []byte("0123456\nabcdefgh\nXYZ\n") {
		wr(u, regData, c)
	}
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "0123456\nab" + limitNote; buf.String() != want {
		t.Fatalf("console %q, want %q", buf.String(), want)
	}
	if got, _ := out.Ring().Read(0, 100); string(got) != "fgh\nXYZ\n" {
		t.Fatalf("ring %q", got)
	}
}
