package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/appliance/supervisor"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// vmmUID and vmmGID start the ranges of uids and gids jailed VMMs run as,
// one pair per instance (supervisor.InstanceIDs). 1<<30 is far above the
// ids a distribution hands out, nobody (65534) and the subordinate ranges
// of rootless containers (from 100000), so on a `serve` host no VMM shares
// an id with anything else. The taps stay owned by root: the supervisor
// opens each and passes the fd into the jail, and a VMM can neither open
// /dev/net/tun (not in its root) nor issue TUNSETIFF (seccomp).
const vmmUID, vmmGID = 1 << 30, 1 << 30

// supervisorRunner adapts the supervisor to orchestrator.Runner.
type supervisorRunner struct {
	*supervisor.Supervisor
}

// Start translates the control plane's spec for the supervisor, which
// opens each NIC's tap and passes its fd into the VMM's jail.
func (s supervisorRunner) Start(ctx context.Context, r orchestrator.RunSpec) error {
	taps := make([]supervisor.TapSpec, 0, len(r.NICs))
	for _, n := range r.NICs {
		taps = append(taps, supervisor.TapSpec{Name: n.Tap, MAC: n.MAC})
	}
	return s.Supervisor.Start(ctx, supervisor.RunSpec{
		ID: r.ID, VCPUs: r.VCPUs, MemBytes: r.MemBytes, Kernel: r.Kernel, Initrd: r.Initrd,
		Cmdline: r.Cmdline, RootVolume: r.RootVolume, ConsoleLog: r.ConsoleLog, Taps: taps,
	})
}

// exits receive the VMMs' ends: exited for every end but a guest's own
// reset, which goes to reset (supervisor.Options OnExit and OnReset).
type exits struct {
	exited func(id, reason string, crashed bool)
	reset  func(id, reason string)
}

// newRunner returns the supervisor when this host can run VMMs (a usable
// /dev/kvm, kvm.Usable, and root, which the jail needs), else nil with the
// reason logged.
// on receives VMM exits; it is called only after the control plane is
// composed. starter starts and waits for the VMMs (nil: reaper.Direct; PID 1
// passes its reaper so that it does not steal their exit status).
func newRunner(tl *timeline.Timeline, dataDir string, starter reaper.Starter, on exits) orchestrator.Runner {
	if err := kvm.Usable("/dev/kvm"); err != nil {
		tl.Logf("%v: instances stay pending", err)
		return nil
	}
	if os.Geteuid() != 0 {
		tl.Logf("not root: the VMM jail cannot be set up; instances stay pending")
		return nil
	}
	sup, err := supervisor.New(supervisor.Options{
		StateDir: filepath.Join(dataDir, "vmm"), UID: vmmUID, GID: vmmGID, OnExit: on.exited, OnReset: on.reset, Starter: starter,
		// Only where cgroup v2 lacks the memory and cpu controllers (the
		// limits could not be enforced there anyway); with them, VMMs get
		// their instance type's limits.
		Unlimited: true,
	})
	if err != nil {
		tl.Fail("supervisor", fmt.Errorf("start supervisor: %w", err))
		return nil
	}
	tl.Logf("VMMs run %s", sup.Binary())
	return supervisorRunner{sup}
}

// reattach adopts the VMMs a previous run left and reconciles instances
// with them.
func reattach(ctx context.Context, tl *timeline.Timeline, cp *controlplane.ControlPlane, r orchestrator.Runner) error {
	s, ok := r.(supervisorRunner)
	if !ok {
		return nil
	}
	return tl.Run("reattach", func() error {
		alive, err := s.Reattach(ctx)
		if err != nil {
			return err
		}
		changed, err := cp.Reconcile(ctx, alive)
		if err == nil {
			tl.Logf("reattached %d VMMs; %d instances changed state", len(alive), len(changed))
			syncNetwork(ctx, tl, cp)
		}
		return err
	})
}
