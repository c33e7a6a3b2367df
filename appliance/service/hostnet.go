package service

import (
	"context"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/netcfg"
)

// NetDir is where the lease pools live under the data directory.
const NetDir = "net"

// hostNetwork returns the host network hooks of the control plane when
// instances can run here (runner is the supervisor): bridges, taps,
// nftables rules and guest DHCP in this process's network namespace,
// through package hostnet, with leases under DATA/net. Only links and
// tables with Ironvisor's names are touched. There is no uplink yet (no
// NAT, port forwards or public IPs) and no metadata redirect. Without the
// supervisor it returns nil hooks: nothing could use a tap.
func hostNetwork(tl *timeline.Timeline, dataDir string, runner controlplane.Runner) (controlplane.NICs, controlplane.NetworkHook) {
	if _, ok := runner.(supervisorRunner); !ok {
		return nil, nil
	}
	var n *hostnet.Net
	err := tl.Run("hostnet", func() error {
		h, err := netcfg.Open()
		if err != nil {
			return err
		}
		n, err = hostnet.Open(hostnet.Options{Dir: filepath.Join(dataDir, NetDir), Apply: hostnet.NewKernel(h, tl.Logf)})
		if err != nil {
			h.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil // reported by Run: instances get no network interfaces
	}
	return n, n.NetworkChanged
}

// syncNetwork converges the host network once the VMMs of a previous run
// are adopted. A failure (a kernel without br_netfilter, say) is reported
// on the timeline and not fatal: instances in a network then fail to start with the reason.
func syncNetwork(ctx context.Context, tl *timeline.Timeline, cp *controlplane.ControlPlane) {
	tl.Run("hostnet-sync", func() error { return cp.SyncNetwork(ctx) })
}
