package boot

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestActionFor(t *testing.T) {
	for sig, want := range map[os.Signal]Action{
		unix.SIGTERM: ActionPowerOff, unix.SIGUSR2: ActionPowerOff,
		unix.SIGINT: ActionReboot, unix.SIGUSR1: ActionReboot,
		unix.SIGHUP: ActionNone,
	} {
		if got := ActionFor(sig); got != want {
			t.Errorf("ActionFor(%v) = %v, want %v", sig, got, want)
		}
	}
	for _, sig := range PowerSignals {
		if ActionFor(sig) == ActionNone {
			t.Errorf("power signal %v has no action", sig)
		}
	}
}
