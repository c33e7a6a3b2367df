package boot

import (
	"context"
	"errors"

	"github.com/ironvisor/ironvisor/appliance/service"
	"github.com/ironvisor/ironvisor/config"
)

// errTestUnhealthy is the health check's answer under the test hook
// config.TestHookUnhealthy.
var errTestUnhealthy = errors.New("failing on purpose: " + config.KeyTestHook + "=" + config.TestHookUnhealthy + " (a test-only hook)")

// healthCheck is the control plane's health check (service.Plane.Check:
// the store answers a read, the API answers a request), as the trial
// boot's bless and the hardware watchdog use it. Under the test-only
// hook ironvisor.test_hook=unhealthy it fails for good, while the API
// serves on: the rack test of a build whose PID 1 runs but never becomes
// healthy.
func (a *appliance) healthCheck(p *service.Plane) func(context.Context) error {
	if a.cfg.TestHook != config.TestHookUnhealthy {
		return p.Check
	}
	return func(ctx context.Context) error {
		if err := p.Check(ctx); err != nil {
			return err
		}
		return errTestUnhealthy
	}
}
