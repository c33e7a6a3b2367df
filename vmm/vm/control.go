package vm

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/vmm/devices/serial"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// ErrNotRunning reports a control request on a VM that is not running.
var ErrNotRunning = errors.New("vm is not running")

// Pause stops every vCPU outside the guest and returns once all are parked
// (or ctx ends). Devices keep their state; Resume continues. Pausing before
// Run makes the VM start paused; Pause then returns once Run has started.
func (v *VM) Pause(ctx context.Context) error {
	s := &v.state
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		return ErrNotRunning
	}
	s.paused = true
	s.mu.Unlock()
	v.kickAll()
	// Wait for the vCPUs to park; a watcher wakes the wait if ctx ends.
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.parked < len(v.vcpus) && !s.stopping.Load() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pause: %w", err)
		}
		s.cond.Wait()
	}
	if s.stopping.Load() {
		return ErrNotRunning
	}
	return nil
}

// Resume lets paused vCPUs run again.
func (v *VM) Resume() error {
	s := &v.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return ErrNotRunning
	}
	s.paused = false
	s.cond.Broadcast()
	return nil
}

// RequestShutdown asks the guest to shut down gracefully by typing
// Ctrl-Alt-Del on the i8042. The guest decides what to do; callers wait for
// Run to return and force a stop (cancel Run's context) after a timeout.
func (v *VM) RequestShutdown() error {
	if v.state.stopping.Load() {
		return ErrNotRunning
	}
	if !v.kbd.SendCtrlAltDel() {
		return fmt.Errorf("i8042 queue full: guest is not reading the keyboard")
	}
	return nil
}

// PressPowerButton presses the ACPI power button: an edge on the Generic
// Event Device's GSI (boot.PowerButtonGSI) through the in-kernel irqchip.
// Linux's GED driver runs the DSDT's _EVT, which notifies the power button
// device; the button driver reports KEY_POWER, which systemd-logind turns
// into a poweroff. A guest without the button driver, or that has not set
// up the interrupt yet, ignores it; callers follow up with
// RequestShutdown.
func (v *VM) PressPowerButton() error {
	if v.state.stopping.Load() {
		return ErrNotRunning
	}
	if err := v.pwrBtn.Trigger(); err != nil {
		return fmt.Errorf("power button: %w", err)
	}
	return nil
}

// ShutDown asks the guest to end its VM in order and waits for the VM to
// end or ctx to end: it presses the ACPI power button, then, if the VM
// still runs after grace, types Ctrl-Alt-Del for guests that ignore the
// button (no button driver, no logind, a busybox init). Should both reach
// a systemd guest, the first shutdown job wins and the other is refused:
// either way the guest shuts down in order. It does not force anything;
// callers stop the VM when ctx ends.
func (v *VM) ShutDown(ctx context.Context, grace time.Duration) error {
	if err := v.PressPowerButton(); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-v.Exited():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	if err := v.RequestShutdown(); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return v.Wait(ctx)
}

// Wait waits for Run to have stopped every vCPU (Exited) or for ctx to
// end, and returns ctx's error in that case.
func (v *VM) Wait(ctx context.Context) error {
	select {
	case <-v.Exited():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ConsoleInput queues bytes for the guest to read from COM1, raising the
// receive interrupt if the guest enabled it. Input beyond the UART's queue
// is dropped and reported to the guest as an overrun. It returns how many
// bytes were queued.
func (v *VM) ConsoleInput(p []byte) int { return v.uart.Input(p) }

// Stop forces the VM to stop now, as if Run's context were cancelled.
func (v *VM) Stop() { v.finish(exitcode.Stopped, "stopped by the host", nil) }

// Done is closed once the VM is stopping.
func (v *VM) Done() <-chan struct{} { return v.state.done }

// Exited is closed once Run has stopped every vCPU.
func (v *VM) Exited() <-chan struct{} { return v.state.exited }

// Status is a VM's state for the control socket.
type Status struct {
	State  string        `json:"state"` // "created", "running", "paused", "stopped"
	CPUs   int           `json:"cpus"`
	Memory uint64        `json:"memory"`
	Code   int           `json:"code,omitempty"`   // exit code once stopped
	Reason string        `json:"reason,omitempty"` // why it stopped
	Uptime time.Duration `json:"uptime_ns"`        // since Run started
}

// Status returns the VM's current state.
func (v *VM) Status() Status {
	s := &v.state
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{State: "created", CPUs: v.cfg.CPUs, Memory: v.cfg.MemSize}
	if s.started {
		st.Uptime = time.Since(s.start)
	}
	switch {
	case s.stopping.Load():
		st.State, st.Code, st.Reason = "stopping", s.result.Code, s.result.Reason
		select {
		case <-s.exited:
			st.State = "stopped"
		default:
		}
	case s.paused:
		st.State = "paused"
	case s.started:
		st.State = "running"
	}
	return st
}

// stats counts exits by reason.
type stats struct {
	io, mmio, intr, other atomic.Uint64
}

// count records one exit.
func (s *stats) count(r kvm.ExitReason) {
	switch r {
	case kvm.ExitIO:
		s.io.Add(1)
	case kvm.ExitMMIO:
		s.mmio.Add(1)
	case kvm.ExitIntr:
		s.intr.Add(1)
	default:
		s.other.Add(1)
	}
}

// Counters are the VM's statistics for the control socket.
type Counters struct {
	ExitsIO    uint64          `json:"exits_io"`
	ExitsMMIO  uint64          `json:"exits_mmio"`
	ExitsIntr  uint64          `json:"exits_intr"`
	ExitsOther uint64          `json:"exits_other"`
	Serial     serial.Counters `json:"serial"`
	Console    int64           `json:"console_bytes"`
	// Devices holds the virtio devices' counters, keyed "disk0_reads",
	// "net0_rx_packets", "rng_served" and so on.
	Devices map[string]uint64 `json:"devices"`
}

// Counters returns a snapshot of the statistics.
func (v *VM) Counters() Counters {
	return Counters{
		ExitsIO:    v.stats.io.Load(),
		ExitsMMIO:  v.stats.mmio.Load(),
		ExitsIntr:  v.stats.intr.Load(),
		ExitsOther: v.stats.other.Load(),
		Serial:     v.uart.Counters(),
		Console:    v.ring.End(),
		Devices:    v.deviceCounters(),
	}
}

// deviceCounters collects the virtio devices' counters.
func (v *VM) deviceCounters() map[string]uint64 {
	m := make(map[string]uint64)
	for _, f := range v.devCounters {
		f(m)
	}
	return m
}
