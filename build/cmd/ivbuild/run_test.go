package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack"
)

// fakeQEMU is a stand-in for the emulator: it boots into the appliance,
// which stops printing in the reattach step on the first boot (as the
// server of `make run` did under nested TCG) and comes up on the next.
const fakeQEMU = `#!/bin/sh
n=$(cat "$FAKE_QEMU_STATE/boots" 2>/dev/null || echo 0)
n=$((n+1))
echo $n > "$FAKE_QEMU_STATE/boots"
echo "Linux version 6.1.0 (fake)"
echo "ironvisor: step store"
echo "ironvisor: step reattach"
echo "ironvisor: VMMs run /ironvisor-vmm"
if [ "$n" -gt 1 ]; then
	echo "ironvisor: step api"
	echo "IRONVISOR READY api=https://10.0.2.15:8080/"
fi
exec sleep 600
`

// TestBootWatchedRestartsAStalledServer: a server that stops printing is
// given up on after the stall period, its console log is kept, the report
// names the appliance's step, and the server is started once more.
func TestBootWatchedRestartsAStalledServer(t *testing.T) {
	dir := t.TempDir()
	qemu := filepath.Join(dir, "qemu")
	if err := os.WriteFile(qemu, []byte(fakeQEMU), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_QEMU_STATE", dir)
	logs := filepath.Join(dir, "run")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := rack.Options{Name: "server1", QEMU: qemu, LogDir: logs}
	b, err := bootWatched(ctx, o, runFlags{timeout: time.Minute, stall: 500 * time.Millisecond, retries: 1})
	if err != nil {
		t.Fatalf("bootWatched: %v", err)
	}
	defer b.srv.Stop()
	if b.attempts != 2 || b.api != "https://10.0.2.15:8080/" {
		t.Errorf("attempts %d, api %q; want 2 and the READY URL", b.attempts, b.api)
	}
	if len(b.stalls) != 1 || !strings.Contains(b.stalls[0], `appliance step "reattach"`) ||
		!strings.Contains(b.stalls[0], "VMMs run /ironvisor-vmm") {
		t.Errorf("stall report %q, want the step and the last line", b.stalls)
	}
	kept, err := os.ReadFile(filepath.Join(logs, "server1.console.stalled-1.log"))
	if err != nil || !strings.Contains(string(kept), "ironvisor: step reattach") {
		t.Errorf("stalled boot's console log: %v %q", err, kept)
	}

	// With no retries left a stall is an error that says so.
	os.WriteFile(filepath.Join(dir, "boots"), []byte("-5\n"), 0o644)
	_, err = bootWatched(ctx, o, runFlags{timeout: time.Minute, stall: 500 * time.Millisecond, retries: 0})
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("stall with no retries: %v", err)
	}
}

// TestParsePorts: -forward takes a port or a range, and refuses what
// QEMU could not forward or what would shadow the API.
func TestParsePorts(t *testing.T) {
	if p, err := parsePorts("2200-2203"); err != nil || len(p) != 4 || p[0] != 2200 || p[3] != 2203 {
		t.Errorf("2200-2203: %v %v", p, err)
	}
	if p, err := parsePorts("2222"); err != nil || len(p) != 1 || p[0] != 2222 {
		t.Errorf("2222: %v %v", p, err)
	}
	if p, err := parsePorts(""); err != nil || p != nil {
		t.Errorf("empty: %v %v", p, err)
	}
	for _, bad := range []string{"x", "22-", "0-3", "10-5", "65535-65536", "8000-8100", "2000-2100", "8080"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
