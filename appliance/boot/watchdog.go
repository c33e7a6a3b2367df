package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/watchdog"
	"github.com/ironvisor/ironvisor/config"
)

// startWatchdog arms the hardware watchdog, the "watchdog" step: it opens
// Options.WatchdogDevice with the configured timeout (ironvisor.watchdog)
// and pets it while the control plane passes its own health check
// (service.Plane.Check: the store answers a read, the API answers a
// request). If the control plane could not be composed at boot, the box
// serves only /v1/host so that the operator can read why; resetting it
// would only repeat that, so the watchdog then guards PID 1 being alive.
// A box without a watchdog, or with it turned off, logs it and carries
// on; a device that is there but cannot be opened is a failure, and boot
// carries on too.
func (a *appliance) startWatchdog() error {
	on, timeout, _ := config.ParseWatchdog(a.cfg.Watchdog) // sanitised
	switch {
	case a.o.WatchdogDevice == "":
		return nil
	case !on:
		a.tl.Logf("hardware watchdog off (%s=off)", config.KeyWatchdog)
		return nil
	}
	var check func(context.Context) error
	if p := a.plane; p != nil {
		check = a.healthCheck(p)
	} else {
		a.tl.Logf("no control plane: the watchdog guards only PID 1 itself")
	}
	w, err := watchdog.Open(watchdog.Options{Device: a.o.WatchdogDevice, Timeout: timeout, Check: check, Logf: a.tl.Logf})
	if errors.Is(err, os.ErrNotExist) {
		a.tl.Logf("no hardware watchdog (%s): a hung box is not reset", a.o.WatchdogDevice)
		return nil
	}
	if err != nil {
		return fmt.Errorf("disabling hardware watchdog, as it could not be opened: %w", err)
	}
	a.wd.Store(w)
	w.Start()
	a.tl.Logf("hardware watchdog %s armed: %v timeout, health checked every %v", a.o.WatchdogDevice, w.Timeout(), w.Interval().Round(time.Millisecond))
	return nil
}

// stopWatchdog disarms the hardware watchdog (magic close) for a
// deliberate power action; call it only once the control plane is closed.
func (a *appliance) stopWatchdog(act Action) {
	w := a.wd.Load()
	if w == nil {
		return
	}
	if err := w.Close(); err != nil {
		a.tl.Logf("%s: %v", act, err)
		return
	}
	a.tl.Logf("%s: hardware watchdog disarmed", act)
}

// watchdogStatus is the hardware watchdog's part of /v1/host; nil when
// none is armed.
func (a *appliance) watchdogStatus() *hostinfo.Watchdog {
	w := a.wd.Load()
	if w == nil {
		return nil
	}
	st := w.Status()
	if st.Closed {
		return nil
	}
	return &hostinfo.Watchdog{Device: st.Device, TimeoutSeconds: int(st.Timeout.Seconds()),
		LastPet: st.LastPet, Healthy: st.Healthy, Error: st.Error}
}
