package boot

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/reaper"
)

// Action is a power action PID 1 can take.
type Action int

// The power actions.
const (
	ActionNone Action = iota
	ActionPowerOff
	ActionReboot
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionPowerOff:
		return "poweroff"
	case ActionReboot:
		return "reboot"
	}
	return "none"
}

// PowerSignals are the signals PID 1 listens to for power actions.
var PowerSignals = []os.Signal{unix.SIGTERM, unix.SIGUSR2, unix.SIGINT, unix.SIGUSR1}

// ActionFor maps a signal to its action: SIGTERM and SIGUSR2 power off;
// SIGINT (what the kernel sends init on Ctrl-Alt-Del once DisableCAD ran)
// and SIGUSR1 reboot.
func ActionFor(sig os.Signal) Action {
	switch sig {
	case unix.SIGTERM, unix.SIGUSR2:
		return ActionPowerOff
	case unix.SIGINT, unix.SIGUSR1:
		return ActionReboot
	}
	return ActionNone
}

// DisableCAD makes the kernel send SIGINT to init on Ctrl-Alt-Del instead
// of rebooting at once (reboot(2), LINUX_REBOOT_CMD_CAD_OFF).
func DisableCAD() error {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return fmt.Errorf("disable ctrl-alt-del: %w", err)
	}
	return nil
}

// PowerDown asks every other process to stop (SIGTERM, then SIGKILL after
// grace), calls flush (PID 1's own state: the control plane closes its
// store) once they are gone, syncs the filesystems and powers off or
// reboots. It returns only if the kernel refuses.
func PowerDown(a Action, grace time.Duration, r *reaper.Reaper, flush func(), logf func(string, ...any)) error {
	logf("%s: stopping processes", a)
	unix.Kill(-1, unix.SIGTERM) // every process but init (kill(2))
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && othersRemain() {
		r.Reap()
		time.Sleep(50 * time.Millisecond)
	}
	unix.Kill(-1, unix.SIGKILL)
	r.Reap()
	if flush != nil {
		flush()
	}
	logf("%s: syncing disks", a)
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if a == ActionReboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

// othersRemain reports whether any user-space process besides this one
// exists (kernel threads have no command line).
func othersRemain() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := fmt.Sprint(os.Getpid())
	for _, e := range entries {
		if e.Name() == self || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}
