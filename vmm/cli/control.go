package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/virtio"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

// pauseTimeout bounds how long a pause waits for the vCPUs to park.
const pauseTimeout = 10 * time.Second

// controlVM adapts a *vm.VM to the control server's VM interface.
type controlVM struct{ m *vm.VM }

// powerButtonGrace is how long a graceful stop or reboot (through the
// control socket or a signal) waits after the ACPI power button before it
// also types Ctrl-Alt-Del (vm.ShutDown). systemd-logind starts the
// poweroff well within it.
const powerButtonGrace = 5 * time.Second

// Stop stops the VM: gracefully (see graceful) or by force. A guest that
// resets rather than powers off (a systemd guest that got both requests
// reboots: Ctrl-Alt-Del replaces the poweroff job) ends the VM all the
// same, with the Reset exit, and the stop with it; the appliance's
// supervisor reports such an exit as the end of the stop, not as the
// guest's own reboot.
func (c controlVM) Stop(ctx context.Context, force bool) error {
	if force {
		c.m.Stop()
		return c.m.Wait(ctx)
	}
	return c.graceful(ctx)
}

// Reboot asks the guest to end its VM in order, as a graceful Stop does,
// and waits for the VM to end; the appliance then starts the next VMM,
// whether the guest powered off (the power button) or reset
// (Ctrl-Alt-Del).
func (c controlVM) Reboot(ctx context.Context) error { return c.graceful(ctx) }

// graceful is vm.ShutDown with powerButtonGrace.
func (c controlVM) graceful(ctx context.Context) error {
	return c.m.ShutDown(ctx, powerButtonGrace)
}

// Pause parks the vCPUs.
func (c controlVM) Pause() error {
	ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
	defer cancel()
	return c.m.Pause(ctx)
}

// Resume lets the vCPUs run again.
func (c controlVM) Resume() error { return c.m.Resume() }

// Status converts the VM's status.
func (c controlVM) Status() control.Status {
	st := c.m.Status()
	out := control.Status{State: st.State, Uptime: st.Uptime, VCPUs: st.CPUs, MemoryBytes: st.Memory}
	if st.State == "created" {
		out.State = "running" // Run starts right after the server
	}
	if st.State == "stopping" || st.State == "stopped" {
		out.ExitReason = exitReason(st.Code, st.Reason)
	}
	return out
}

// exitReason words an exit code the way the control protocol documents.
func exitReason(code int, reason string) string {
	switch code {
	case exitcode.Poweroff:
		return "poweroff"
	case exitcode.Reset:
		return "reset"
	case exitcode.GuestBrokeDevice:
		return "device broken: " + reason
	case exitcode.Stopped:
		return "stopped"
	}
	return "error: " + reason
}

// Console reads the console ring.
func (c controlVM) Console(offset int64, max int) ([]byte, int64) {
	return c.m.Console().Read(offset, max)
}

// ConsoleInput queues bytes for the guest's COM1.
func (c controlVM) ConsoleInput(p []byte) int { return c.m.ConsoleInput(p) }

// Counters flattens the VM's counters.
func (c controlVM) Counters() map[string]uint64 {
	k := c.m.Counters()
	m := map[string]uint64{
		"exits_io": k.ExitsIO, "exits_mmio": k.ExitsMMIO, "exits_intr": k.ExitsIntr, "exits_other": k.ExitsOther,
		"console_bytes": uint64(k.Console),
	}
	virtio.Flatten(m, "serial_", k.Serial)
	for name, v := range k.Devices {
		m[name] = v
	}
	return m
}

// serveControl serves the control socket named by --control: a path, or
// "fd:N" for a listening socket the jail passed in. It returns a function
// that closes the server.
func serveControl(m *vm.VM, name string, log *slog.Logger) (func(), error) {
	var l net.Listener
	var err error
	if strings.HasPrefix(name, "fd:") {
		f, ferr := jail.OpenFile(name, os.O_RDWR, 0)
		if ferr != nil {
			return nil, fmt.Errorf("control socket: %w", ferr)
		}
		l, err = net.FileListener(f)
		f.Close()
	} else {
		l, err = control.Listen(name)
	}
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", name, err)
	}
	srv := control.NewServer(controlVM{m})
	go func() {
		if err := srv.Serve(l); err != nil {
			log.Error("control socket", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}
