package kvm

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestExitReasonString(t *testing.T) {
	for r, want := range map[ExitReason]string{
		ExitIO: "io", ExitMMIO: "mmio", ExitHLT: "hlt", ExitShutdown: "shutdown",
		ExitSystemEvent: "system-event", ExitFailEntry: "fail-entry",
		ExitInternalError: "internal-error", ExitReason(99): "exit(99)",
	} {
		if got := r.String(); got != want {
			t.Errorf("ExitReason(%d).String() = %q, want %q", uint32(r), got, want)
		}
	}
}

// fakeRun returns a vCPU whose run area is plain memory, for decoding tests.
func fakeRun() *VCPU { return &VCPU{run: make([]byte, 4096)} }

func TestIOExitDecode(t *testing.T) {
	c := fakeRun()
	c.run[runIODirection] = IOOut
	c.run[runIOSize] = 1
	binary.LittleEndian.PutUint16(c.run[runIOPort:], 0x3f8)
	binary.LittleEndian.PutUint32(c.run[runIOCount:], 2)
	binary.LittleEndian.PutUint64(c.run[runIODataOffset:], 4096-2)
	copy(c.run[4094:], "OK")
	e, err := c.IO()
	if err != nil {
		t.Fatal(err)
	}
	if e.Port != 0x3f8 || e.Direction != IOOut || e.Size != 1 || e.Count != 2 || string(e.Data) != "OK" {
		t.Fatalf("decoded %+v", e)
	}
}

// TestIOExitDataOutsideRun: a data offset past the run area is an error,
// not a slice panic.
func TestIOExitDataOutsideRun(t *testing.T) {
	for _, off := range []uint64{4095, 1 << 63, ^uint64(0)} {
		c := fakeRun()
		c.run[runIOSize] = 4
		binary.LittleEndian.PutUint32(c.run[runIOCount:], 1)
		binary.LittleEndian.PutUint64(c.run[runIODataOffset:], off)
		if _, err := c.IO(); err == nil {
			t.Errorf("data offset %#x accepted", off)
		}
	}
}

func TestMMIOExitDecode(t *testing.T) {
	c := fakeRun()
	binary.LittleEndian.PutUint64(c.run[runMMIOAddr:], 0xd0000050)
	binary.LittleEndian.PutUint32(c.run[runMMIOData:], 3)
	binary.LittleEndian.PutUint32(c.run[runMMIOLen:], 4)
	c.run[runMMIOIsWrite] = 1
	e := c.MMIO()
	if e.Addr != 0xd0000050 || !e.IsWrite || len(e.Data) != 4 || binary.LittleEndian.Uint32(e.Data) != 3 {
		t.Fatalf("decoded %+v", e)
	}
	binary.LittleEndian.PutUint32(c.run[runMMIOLen:], 1000)
	if n := len(c.MMIO().Data); n != 8 {
		t.Fatalf("oversized len gave %d data bytes, want 8", n)
	}
}

func TestImmediateExitFlag(t *testing.T) {
	c := fakeRun()
	c.run[0] = 0x5a // request_interrupt_window must survive
	if err := c.Kick(); err != nil {
		t.Fatal(err)
	}
	if c.run[runImmediateExit] != 1 || c.run[0] != 0x5a {
		t.Fatalf("after Kick: % x", c.run[:4])
	}
	c.setImmediateExit(false)
	if c.run[runImmediateExit] != 0 || c.run[0] != 0x5a {
		t.Fatalf("after clear: % x", c.run[:4])
	}
}

func TestCheckGuest(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		mode GuestMode
		ok   bool
	}{
		{KindPVM, GuestLong64, false},
		{KindPVM, GuestLegacy, true},
		{KindPVM, GuestLong64PVM, true},
		{KindSVM, GuestLong64, true},
		{KindVMX, GuestLong64, true},
		{KindSVM, GuestLegacy, true},
	} {
		err := CheckGuest(tc.kind, tc.mode)
		if (err == nil) != tc.ok {
			t.Errorf("CheckGuest(%s, %d) = %v, want ok=%v", tc.kind, tc.mode, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrPVMNeedsPVMGuest) {
			t.Errorf("CheckGuest(%s, %d) = %v, want ErrPVMNeedsPVMGuest", tc.kind, tc.mode, err)
		}
	}
}

func TestLAPICLVT(t *testing.T) {
	var s LAPICState
	s.SetReg(LAPICRegLINT0, 0x10000|0x700) // masked, some mode
	s.SetLVTDelivery(LAPICRegLINT0, LVTDeliveryExtINT)
	s.SetLVTDelivery(LAPICRegLINT1, LVTDeliveryNMI)
	if got := s.Reg(LAPICRegLINT0); got != 0x10000|LVTDeliveryExtINT<<8 {
		t.Errorf("LINT0 = %#x", got)
	}
	if got := s.Reg(LAPICRegLINT1); got != LVTDeliveryNMI<<8 {
		t.Errorf("LINT1 = %#x", got)
	}
	if s.Reg(1022) != 0 || s.Reg(-1) != 0 {
		t.Error("out-of-page register read non-zero")
	}
	s.SetReg(1021, 1) // ignored, must not panic
}
