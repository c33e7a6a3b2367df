package service

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
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
// supervisor it returns nil hooks: nothing could use a tap. The returned
// func stops the guest DHCP servers and closes the netlink handle (links
// and rules stay for the next start).
func hostNetwork(tl *timeline.Timeline, dataDir string, runner controlplane.Runner) (controlplane.NICs, controlplane.NetworkHook, func()) {
	if _, ok := runner.(supervisorRunner); !ok {
		return nil, nil, func() {}
	}
	var n *hostnet.Net
	var closeNet func()
	err := tl.Run("hostnet", func() error {
		h, err := netcfg.Open()
		if err != nil {
			return err
		}
		k := hostnet.NewKernel(h, tl.Logf)
		closeNet = func() {
			k.Close()
			h.Close()
		}
		n, err = hostnet.Open(hostnet.Options{Dir: filepath.Join(dataDir, NetDir), Apply: k})
		if err != nil {
			closeNet()
		}
		return err
	})
	if err != nil {
		return noNet{fmt.Errorf("host network unavailable: %w", err)}, nil, func() {} // reported by Run
	}
	return n, n.NetworkChanged, closeNet
}

// noNet stands where the host network could not be opened: instances in a
// network fail to start with the reason instead of running without their
// interface; instances in no network are not affected.
type noNet struct{ err error }

func (n noNet) Attach(context.Context, lifecycle.Instance) (controlplane.NIC, error) {
	return controlplane.NIC{}, n.err
}

func (noNet) Detach(context.Context, string) error  { return nil }
func (noNet) Release(context.Context, string) error { return nil }

func (n noNet) Sync(context.Context, netcfg.State, []lifecycle.Instance) error { return n.err }

// syncNetwork converges the host network once the VMMs of a previous run
// are adopted. A failure (a kernel without br_netfilter, say) is reported
// on the timeline and not fatal: instances in a network then fail to start with the reason.
func syncNetwork(ctx context.Context, tl *timeline.Timeline, cp *controlplane.ControlPlane) {
	tl.Run("hostnet-sync", func() error { return cp.SyncNetwork(ctx) })
}
