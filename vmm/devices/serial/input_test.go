package serial

import (
	"bytes"
	"testing"
)

// TestDataReadyFollowsTheQueue: LSR.DR is set while RBR holds a byte and
// clears with the last read; bytes come out in order.
func TestDataReadyFollowsTheQueue(t *testing.T) {
	u, _, _, _ := newTest()
	if rd(u, regLSR)&lsrDR != 0 {
		t.Fatal("data ready before any input")
	}
	if n := u.Input([]byte("xyz")); n != 3 {
		t.Fatalf("Input queued %d, want 3", n)
	}
	var got []byte
	for rd(u, regLSR)&lsrDR != 0 {
		got = append(got, rd(u, regData))
		if len(got) > 3 {
			t.Fatal("data ready after the queue drained")
		}
	}
	if string(got) != "xyz" {
		t.Fatalf("RBR gave %q, want xyz", got)
	}
}

// TestReceiveInterruptPerInput: with IER.RDA set every non-empty Input
// raises the line (it is an edge), an empty one does not, and with IER.RDA
// clear none does.
func TestReceiveInterruptPerInput(t *testing.T) {
	u, irq, _, _ := newTest()
	u.Input([]byte("a"))
	if irq.count() != 0 {
		t.Fatal("interrupt with IER=0")
	}
	rd(u, regData)
	wr(u, regIER, ierRDA)
	if irq.count() != 0 {
		t.Fatal("enabling RDA with an empty queue raised the line")
	}
	u.Input([]byte("b"))
	u.Input([]byte("c"))
	u.Input(nil)
	if irq.count() != 2 {
		t.Fatalf("interrupts = %d, want 2", irq.count())
	}
	if c := u.Counters(); c.Interrupts != 2 || c.RxBytes != 3 {
		t.Fatalf("counters %+v", c)
	}
}

// TestRDAOutranksTHRE: received data is identified before an empty
// transmitter (PC16550D table 4), and THRE shows once the queue drained.
func TestRDAOutranksTHRE(t *testing.T) {
	u, _, _, _ := newTest()
	wr(u, regIER, ierRDA|ierTHRE)
	u.Input([]byte("k"))
	if v := rd(u, regIIR) & 0x0f; v != iirRDA {
		t.Fatalf("IIR = %#x, want RDA", v)
	}
	if v := rd(u, regIIR) & 0x0f; v != iirRDA {
		t.Fatalf("IIR = %#x: reading IIR acknowledged RDA", v)
	}
	rd(u, regData)
	if v := rd(u, regIIR) & 0x0f; v != iirTHRE {
		t.Fatalf("IIR = %#x after draining, want THRE", v)
	}
}

// TestDisablingRDAHidesPendingData: IIR no longer reports data the guest
// does not want interrupts for, but LSR still does.
func TestDisablingRDAHidesPendingData(t *testing.T) {
	u, _, _, _ := newTest()
	wr(u, regIER, ierRDA)
	u.Input([]byte("q"))
	wr(u, regIER, 0)
	if v := rd(u, regIIR) & 0x0f; v != iirNone {
		t.Fatalf("IIR = %#x with RDA disabled", v)
	}
	if rd(u, regLSR)&lsrDR == 0 {
		t.Fatal("LSR lost the pending byte")
	}
}

// TestFCRClearsReceiveFIFO: FCR bit 1 empties the receive queue.
func TestFCRClearsReceiveFIFO(t *testing.T) {
	u, _, _, _ := newTest()
	u.Input([]byte("junk"))
	wr(u, regIIR, fcrEnable|0x02)
	if rd(u, regLSR)&lsrDR != 0 {
		t.Fatal("data ready after FCR cleared the receive FIFO")
	}
	u.Input([]byte("ok"))
	if rd(u, regData) != 'o' || rd(u, regData) != 'k' {
		t.Fatal("input after clearing not received")
	}
}

// TestOverflowKeepsTheOldestAndCounts: a queue the guest does not drain
// takes what fits, drops the rest, counts it and flags one overrun; bytes
// already queued are not disturbed.
func TestOverflowKeepsTheOldestAndCounts(t *testing.T) {
	u, _, _, _ := newTest()
	first := bytes.Repeat([]byte{'A'}, maxInput-2)
	if n := u.Input(first); n != len(first) {
		t.Fatalf("queued %d of %d", n, len(first))
	}
	if n := u.Input([]byte("BCDE")); n != 2 {
		t.Fatalf("queued %d past the bound, want 2", n)
	}
	if n := u.Input([]byte("F")); n != 0 {
		t.Fatalf("queued %d into a full queue", n)
	}
	if c := u.Counters(); c.RxBytes != maxInput || c.RxDropped != 3 {
		t.Fatalf("counters %+v, want %d received and 3 dropped", c, maxInput)
	}
	if v := rd(u, regLSR); v&(lsrOE|lsrDR) != lsrOE|lsrDR {
		t.Fatalf("LSR = %#x, want OE|DR", v)
	}
	var got []byte
	for rd(u, regLSR)&lsrDR != 0 {
		got = append(got, rd(u, regData))
	}
	if want := append(first, 'B', 'C'); !bytes.Equal(got, want) {
		t.Fatalf("guest read %d bytes ending %q, want %d ending BC", len(got), got[len(got)-2:], len(want))
	}
}
