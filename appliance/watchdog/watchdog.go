// Package watchdog drives the hardware watchdog (/dev/watchdog) from PID 1.
// Opening the device arms the timer; the Watchdog pets it only while a
// health check passes, so a hung or stopped PID 1, or a control plane that
// no longer answers, stops the petting and the hardware resets the box.
// Close disarms the timer with the magic character ('V') on a deliberate
// power-off or reboot, so that it is not mistaken for a hang.
//
// The timeout is set with WDIOC_SETTIMEOUT in whole seconds, as the kernel
// wants (Documentation/watchdog/watchdog-api.rst).
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDevice is the watchdog device PID 1 opens.
const DefaultDevice = "/dev/watchdog"

// The driver's own timeout is clamped to [MinTimeout, MaxTimeout]: shorter
// risks a reset while an emulated or loaded box is merely slow, longer
// leaves a hung box dead for minutes.
const (
	MinTimeout = 10 * time.Second
	MaxTimeout = 60 * time.Second
)

// magic is the character that, written just before close, tells the driver
// the close is deliberate and the timer may stop.
const magic = "V"

// Options configures Open. Zero values mean the defaults given per field.
type Options struct {
	// Device is the watchdog device; "" means DefaultDevice.
	Device string
	// Timeout is the timeout to set, in whole seconds; 0 means the
	// driver's own, clamped to [MinTimeout, MaxTimeout].
	Timeout time.Duration
	// Interval is how often the health check runs and, when it passes,
	// the watchdog is petted; 0 means a third of the timeout, so two
	// missed pets in a row do not yet reset the box.
	Interval time.Duration
	// Check is the health check, bounded by a context that ends after
	// Interval; nil means always healthy (only PID 1 being alive is
	// guarded).
	Check func(context.Context) error
	// Open opens the device for writing; nil means os.OpenFile with
	// O_WRONLY|O_CLOEXEC. Tests hand in a FIFO or a plain file.
	Open func(path string) (*os.File, error)
	// Logf receives what the watchdog has to say; nil means nothing.
	Logf func(string, ...any)
}

// Status is what the Watchdog reports about itself.
type Status struct {
	Device  string        // the device path
	Timeout time.Duration // the timeout in force
	LastPet time.Time     // zero before the first pet
	Healthy bool          // the last health check passed and the pet was written
	Error   string        // why the last round did not pet, if it did not
	Closed  bool          // disarmed by Close
}

// Watchdog is an open, armed watchdog device. Start pets it; Close disarms
// it.
type Watchdog struct {
	o        Options
	timeout  time.Duration
	interval time.Duration
	stop     chan struct{}
	once     sync.Once

	// mu guards the fields below. The device is written only under mu, so
	// the magic close cannot be followed by a pet.
	mu      sync.Mutex
	f       *os.File // nil once closed
	lastPet time.Time
	healthy bool
	lastErr string
	failing bool // a failed round was logged and no pet since
}

// Open opens and arms the watchdog device and sets its timeout: o.Timeout
// if set, else the driver's own clamped to [MinTimeout, MaxTimeout]. A
// driver that refuses the timeout keeps its own, which is logged. An
// absent device is an error wrapping os.ErrNotExist. Nothing is petted
// until Start; the caller should Start soon, as the timer is running.
func Open(o Options) (*Watchdog, error) {
	if o.Device == "" {
		o.Device = DefaultDevice
	}
	if o.Open == nil {
		o.Open = func(path string) (*os.File, error) {
			return os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC, 0)
		}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Check == nil {
		o.Check = func(context.Context) error { return nil }
	}
	f, err := o.Open(o.Device)
	if err != nil {
		return nil, fmt.Errorf("open watchdog: %w", err)
	}
	w := &Watchdog{o: o, f: f, stop: make(chan struct{})}
	w.timeout = w.setTimeout()
	w.interval = o.Interval
	if w.interval <= 0 {
		w.interval = w.timeout / 3
	}
	return w, nil
}

// setTimeout sets the timeout Options ask for and returns the one in
// force. A device that answers no timeout ioctl (a fake, or a driver
// without WDIOF_SETTIMEOUT) is assumed to use the asked timeout, or
// MinTimeout when none was asked, so it is petted often enough.
func (w *Watchdog) setTimeout() time.Duration {
	fd := int(w.f.Fd())
	driver, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	want := w.o.Timeout
	if err != nil {
		if want <= 0 {
			want = MinTimeout
		}
		w.o.Logf("watchdog %s reports no timeout (%v); assuming %v", w.o.Device, err, want)
		return want
	}
	have := time.Duration(driver) * time.Second
	if want <= 0 {
		want = min(max(have, MinTimeout), MaxTimeout)
	}
	if want == have {
		return have
	}
	secs := int(want.Round(time.Second) / time.Second)
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
		w.o.Logf("watchdog %s refused a timeout of %ds (%v); keeping the driver's %v", w.o.Device, secs, err, have)
		return have
	}
	// The driver may round the timeout to what its hardware can count.
	if got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT); err == nil {
		return time.Duration(got) * time.Second
	}
	return want
}

// Timeout is the timeout in force.
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Interval is the time between health checks.
func (w *Watchdog) Interval() time.Duration { return w.interval }

// Start pets the watchdog at once and then every Interval while the health
// check passes, in a new goroutine, until Close.
func (w *Watchdog) Start() {
	go w.run()
}

// run is Start's loop.
func (w *Watchdog) run() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.Round()
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// Round runs the health check once and pets the watchdog if it passes. A
// change between healthy and not is logged. It returns the check's or the
// write's error.
func (w *Watchdog) Round() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.interval)
	err := w.o.Check(ctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("health check: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errClosed
	}
	if err == nil {
		// Any byte but the magic one pets the timer.
		if _, werr := w.f.Write([]byte{0}); werr != nil {
			err = fmt.Errorf("pet: %w", werr)
		}
	}
	w.healthy = err == nil
	if err == nil {
		w.lastPet, w.lastErr = time.Now(), ""
		if w.failing {
			w.failing = false
			w.o.Logf("watchdog: healthy again; petting %s", w.o.Device)
		}
		return nil
	}
	if !w.failing {
		w.failing = true
		w.o.Logf("watchdog: not petting %s: %v; the box resets within %v unless it recovers", w.o.Device, err, w.timeout)
	}
	w.lastErr = err.Error()
	return err
}

// errClosed is returned by Round after Close.
var errClosed = errors.New("watchdog closed")

// Status reports the device, timeout, last pet and health.
func (w *Watchdog) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{Device: w.o.Device, Timeout: w.timeout, LastPet: w.lastPet,
		Healthy: w.healthy, Error: w.lastErr, Closed: w.f == nil}
}

// Close stops the petting and disarms the watchdog: it writes the magic
// character and closes the device, so the driver stops the timer (unless
// the kernel was built with WATCHDOG_NOWAYOUT, when the box resets after
// the timeout anyway). Call it only for a deliberate power-off or reboot,
// after everything the health check guards is shut down. Later calls do
// nothing.
func (w *Watchdog) Close() error {
	w.once.Do(func() { close(w.stop) })
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	_, err := w.f.Write([]byte(magic))
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return fmt.Errorf("disarm watchdog %s: %w", w.o.Device, err)
	}
	return nil
}
