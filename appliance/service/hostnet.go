package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metadata"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/netcfg"
)

// hostnet.Net is the orchestrator's NICs.
var _ orchestrator.NICs = (*hostnet.Net)(nil)

// NetDir is where the lease pools live under the data directory.
const NetDir = "net"

// hostNetwork returns the host network hooks of the control plane when
// instances can run here (runner is the supervisor): bridges, taps,
// nftables rules and guest DHCP in this process's network namespace,
// through package hostnet, with leases under DATA/net. Only links and
// tables with Ironvisor's names are touched. o.Uplink, when named, gets
// the guests' outbound masquerade and keeps the API's port from them;
// o.DNSServers go to guests by DHCP. The metadata service (package
// metadata; instance answers who is behind a NIC) listens on
// metadata.Port at each bridge's gateway address and nowhere else (bound
// again after every change of the host network), and guests'
// 169.254.169.254:80 is redirected to it; when the port is taken,
// instances run without metadata and the timeline says so. Without the supervisor it returns nil hooks: nothing could use a
// tap. The returned func stops the metadata service and the guest DHCP
// servers and closes the netlink handle (links and rules stay for the
// next start).
func hostNetwork(tl *timeline.Timeline, o Options, instance func(id string) (lifecycle.Instance, error)) (orchestrator.NICs, domain.NetworkHook, func()) {
	if _, ok := o.Runner.(supervisorRunner); !ok {
		return nil, nil, func() {}
	}
	base := netcfg.State{Uplink: o.Uplink, DNSServers: o.DNSServers, GuestBlocked: o.GuestBlocked, HostNets: hostNets(tl, o)}
	if base.Uplink.Name != "" && !o.GuestReachUplinkNet {
		nets, err := UplinkSubnets(base.Uplink.Name, o.PublicIPs)
		if err != nil {
			tl.Fail("guest-blocked", fmt.Errorf("%w; guests may reach the uplink's network", err))
		}
		base.GuestBlocked = append(base.GuestBlocked, nets...)
		tl.Logf("guests may not reach %v", base.GuestBlocked)
	}
	if base.Uplink.Name != "" {
		if port := apiPort(o); port != 0 {
			base.Uplink.ManagementPorts = append(base.Uplink.ManagementPorts, port)
		}
		tl.Logf("guests' outbound traffic is masqueraded on %s", base.Uplink.Name)
	}
	var n *hostnet.Net
	var closeNet func()
	err := tl.Run("hostnet", func() error {
		h, err := netcfg.Open()
		if err != nil {
			return err
		}
		k := hostnet.NewKernel(h, tl.Logf)
		var apply hostnet.Applier = k
		var opened atomic.Pointer[hostnet.Net]
		md := newMetadata(tl, func() netcfg.State {
			if n := opened.Load(); n != nil {
				return n.State()
			}
			return netcfg.State{}
		}, instance)
		if md != nil {
			base.Metadata = netcfg.MetadataTarget{Addr: netip.IPv4Unspecified(), Port: metadata.Port}
			apply = bindAfter{k, md, tl}
		}
		closeNet = func() {
			if md != nil {
				md.Close()
			}
			k.Close()
			h.Close()
		}
		n, err = hostnet.Open(hostnet.Options{Dir: filepath.Join(o.DataDir, NetDir), Apply: apply, Base: base})
		if err != nil {
			closeNet()
			return err
		}
		opened.Store(n)
		return nil
	})
	if err != nil {
		return noNet{fmt.Errorf("host network unavailable: %w", err)}, nil, func() {} // reported by Run
	}
	return n, n.NetworkChanged, closeNet
}

// newMetadata returns the metadata service, which listens nowhere until
// its first Bind, or reports on tl why there is none (metadata.Port is
// taken) and returns nil.
func newMetadata(tl *timeline.Timeline, state func() netcfg.State, instance func(id string) (lifecycle.Instance, error)) *metadata.Server {
	probe, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", metadata.Port))
	if err != nil {
		tl.Fail("metadata", fmt.Errorf("%w; instances get no metadata", err))
		return nil
	}
	probe.Close()
	s, err := metadata.New(metadata.Config{State: state, Instance: instance})
	if err != nil {
		tl.Fail("metadata", err)
		return nil
	}
	return s
}

// bindAfter applies a host network state, then binds the metadata service
// to the gateway of each of its bridges (and unbinds it from the gone).
type bindAfter struct {
	hostnet.Applier
	md *metadata.Server
	tl *timeline.Timeline
}

func (b bindAfter) Apply(ctx context.Context, st netcfg.State) error {
	err := b.Applier.Apply(ctx, st)
	if berr := b.md.Bind(st, metadata.Port); berr != nil {
		b.tl.Fail("metadata", berr)
	}
	return err
}

var _ hostnet.NICApplier = bindAfter{}

// AttachNIC and DetachNIC pass one NIC's change to the Applier's per-NIC
// path: it changes no bridge, so the metadata service stays bound.
func (b bindAfter) AttachNIC(ctx context.Context, c netcfg.NIC) error {
	a, ok := b.Applier.(hostnet.NICApplier)
	if !ok {
		return errors.New("host network: no per-NIC path")
	}
	return a.AttachNIC(ctx, c)
}

func (b bindAfter) DetachNIC(ctx context.Context, c netcfg.NIC) error {
	a, ok := b.Applier.(hostnet.NICApplier)
	if !ok {
		return errors.New("host network: no per-NIC path")
	}
	return a.DetachNIC(ctx, c)
}

// reservedPorts are the host's own ports on the uplink, which no port
// forward may take: the API's and the metadata service's.
func reservedPorts(o Options) []uint16 {
	ports := []uint16{metadata.Port}
	if p := apiPort(o); p != 0 {
		ports = append([]uint16{p}, ports...)
	}
	return ports
}

// apiPort is the API's TCP port, or 0 when unknown.
func apiPort(o Options) uint16 {
	addr := o.Listen
	if o.Listener != nil {
		addr = o.Listener.Addr().String()
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(p)
}

// noNet stands where the host network could not be opened: instances in a
// network fail to start with the reason instead of running without their
// interface; instances in no network are not affected.
type noNet struct{ err error }

func (n noNet) Attach(context.Context, lifecycle.Instance) (hostnet.NIC, error) {
	return hostnet.NIC{}, n.err
}

func (noNet) Detach(context.Context, string) error  { return nil }
func (noNet) Release(context.Context, string) error { return nil }
func (noNet) Lease(string) (netcfg.Lease, bool)     { return netcfg.Lease{}, false }

func (n noNet) Sync(context.Context, netcfg.State, []lifecycle.Instance) error { return n.err }

// syncNetwork converges the host network once the VMMs of a previous run
// are adopted. A failure (a kernel without br_netfilter, say) is reported
// on the timeline and not fatal: instances in a network then fail to start with the reason.
func syncNetwork(ctx context.Context, tl *timeline.Timeline, cp *controlplane.ControlPlane) {
	tl.Run("hostnet-sync", func() error { return cp.SyncNetwork(ctx) })
}
