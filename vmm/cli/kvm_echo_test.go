//go:build rack

package cli

import (
	"context"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestVMMSerialInputEchoed types into a tiny guest's serial port through
// the control socket's input op on real KVM: the guest reads each byte
// from the UART and echoes it upper-cased, so the console shows what only
// the guest can have written; Ctrl-D makes it power off. Its negative
// twin: before anything is typed, no echo is there.
func TestVMMSerialInputEchoed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, code, _ := runTinyVMM(ctx, t, testutil.PVHEcho("ECHO READY\n"))
	waitConsole(ctx, t, c, "ECHO READY\n")
	if data, _, err := c.Console(ctx, 0, 0); err != nil || string(data) != "ECHO READY\n" {
		t.Fatalf("console before typing: %q, %v", data, err)
	}
	if n, err := c.Input(ctx, []byte("ping 42\r\n")); n != 9 || err != nil {
		t.Fatalf("input: %d, %v", n, err)
	}
	waitConsole(ctx, t, c, "ECHO READY\nPING 42\r\n")
	ctr, err := c.Counters(ctx)
	if err != nil || ctr["serial_rx_bytes"] != 9 || ctr["serial_rx_dropped"] != 0 {
		t.Fatalf("counters %v, %v", ctr, err)
	}
	if _, err := c.Input(ctx, []byte{0x04}); err != nil {
		t.Fatalf("Ctrl-D: %v", err)
	}
	select {
	case got := <-code:
		if got != exitcode.Poweroff {
			t.Fatalf("exit code %d, want %d (poweroff)", got, exitcode.Poweroff)
		}
	case <-ctx.Done():
		t.Fatal("the guest did not power off on Ctrl-D")
	}
}
