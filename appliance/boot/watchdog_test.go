package boot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/config"
)

// watchdogAppliance returns an appliance whose watchdog device is a plain
// file, configured with setting (ironvisor.watchdog).
func watchdogAppliance(t *testing.T, setting string) (*appliance, string, *syncBuffer) {
	t.Helper()
	dev := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cfg := config.Defaults()
	cfg.API = "127.0.0.1:0"
	cfg.Watchdog = setting
	a := &appliance{o: Options{Console: out, NoHypervisor: true, WatchdogDevice: dev}, tl: timeline.New(out, time.Now(), 0),
		cfg: cfg, reap: reaper.New("/proc"), dataDir: t.TempDir(), data: Data{Source: "tmpfs"}}
	return a, dev, out
}

// TestWatchdogPetsWhileHealthyAndDisarmsAfterThePlane boots the API with a
// fake watchdog: it is armed and petted while the control plane is
// healthy, /v1/host's collector reports it, a closed store stops the
// petting, and the power-off flush closes the control plane and only then
// writes the magic 'V'.
func TestWatchdogPetsWhileHealthyAndDisarmsAfterThePlane(t *testing.T) {
	// A long timeout keeps the background rounds (every 200 s) out of the
	// way of the ones the test runs.
	a, dev, out := watchdogAppliance(t, "600")
	if err := a.startAPI(); err != nil {
		t.Fatal(err)
	}
	w := a.wd.Load()
	if w == nil || a.plane == nil {
		t.Fatalf("no watchdog or control plane armed:\n%s", out)
	}
	if !strings.Contains(out.String(), "Watchdog "+dev) {
		t.Errorf("banner lacks the watchdog:\n%s", out)
	}
	// Start's loop runs its first round at once; wait for its pet, so
	// that it cannot land after the device is read below.
	deadline, tick := time.After(30*time.Second), time.NewTicker(5*time.Millisecond)
	defer tick.Stop()
	for st := a.watchdogStatus(); st == nil || st.LastPet.IsZero(); st = a.watchdogStatus() {
		select {
		case <-deadline:
			t.Fatalf("the first background round never petted: %+v\n%s", st, out)
		case <-tick.C:
		}
	}
	if err := w.Round(); err != nil {
		t.Fatalf("round while healthy: %v", err)
	}
	st := a.watchdogStatus()
	if st == nil || st.Device != dev || st.TimeoutSeconds != 600 || st.LastPet.IsZero() || !st.Healthy {
		t.Fatalf("watchdog status %+v", st)
	}
	b, _ := os.ReadFile(dev)
	if len(b) == 0 || strings.Contains(string(b), "V") {
		t.Fatalf("device after a healthy round: %q", b)
	}
	pets := len(b)

	// A closed store is unhealthy: no pet.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.plane.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Round(); err == nil || !strings.Contains(err.Error(), "store") {
		t.Fatalf("round with the store closed = %v", err)
	}
	if b, _ := os.ReadFile(dev); len(b) != pets {
		t.Fatalf("petted with the store closed: %q", b)
	}
	if st := a.watchdogStatus(); st.Healthy || st.Error == "" {
		t.Fatalf("status with the store closed: %+v", st)
	}

	// The flush: control plane closed first (a second Shutdown of an
	// already closed plane is harmless here), then the magic close.
	a.closePlane(ActionReboot)
	b, _ = os.ReadFile(dev)
	if len(b) == 0 || b[len(b)-1] != 'V' {
		t.Fatalf("device after the power-off flush: %q, want 'V' last", b)
	}
	log := out.String()
	if i, j := strings.Index(log, "reboot: closing the control plane"), strings.Index(log, "reboot: hardware watchdog disarmed"); i < 0 || j < i {
		t.Fatalf("want the control plane closed before the watchdog is disarmed:\n%s", log)
	}
	if a.watchdogStatus() != nil {
		t.Fatal("a disarmed watchdog is still reported")
	}
}

func TestWatchdogOffAndAbsent(t *testing.T) {
	a, dev, out := watchdogAppliance(t, "off")
	if err := a.startWatchdog(); err != nil || a.wd.Load() != nil {
		t.Fatalf("ironvisor.watchdog=off armed it (%v)", err)
	}
	if b, _ := os.ReadFile(dev); len(b) != 0 {
		t.Fatalf("off wrote %q", b)
	}
	a, _, out = watchdogAppliance(t, "30")
	a.o.WatchdogDevice = filepath.Join(t.TempDir(), "absent")
	if err := a.startWatchdog(); err != nil || a.wd.Load() != nil {
		t.Fatalf("absent device: %v", err)
	}
	if !strings.Contains(out.String(), "no hardware watchdog") {
		t.Fatalf("absence not logged:\n%s", out)
	}
	// Without a control plane the watchdog guards PID 1 alone.
	a, dev, out = watchdogAppliance(t, "")
	if err := a.startWatchdog(); err != nil {
		t.Fatal(err)
	}
	defer a.stopWatchdog(ActionPowerOff)
	if err := a.wd.Load().Round(); err != nil || !strings.Contains(out.String(), "guards only PID 1") {
		t.Fatalf("without a control plane: %v\n%s", err, out)
	}
}
