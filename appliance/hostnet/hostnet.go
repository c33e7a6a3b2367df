// Package hostnet puts instances on the host network. It is the one place
// where the control plane meets netcfg: it implements the control plane's
// NICs hook (a lease, a tap and rules per instance) and its NetworkHook
// (networks and security groups), and converges the kernel through an
// Applier, in production netcfg's Reconcile followed by the guest DHCP
// servers' update.
//
// Leases. Each network has a netcfg.Pool (deterministic IP and MAC) saved
// atomically to DIR/<network>.json before the address is used anywhere,
// so a crash leaves either no lease or a lease that Sync frees when its
// instance never came to exist or has terminated. A lease lives from an
// instance's first start to its termination: a stopped instance keeps its
// address and MAC.
//
// Taps. The desired netcfg.State is the stored networks and groups plus
// one NIC per attached instance (one whose VMM is starting or running).
// Attach adds the NIC and converges the kernel, so the tap exists on the
// bridge, with its anti-spoofing and security-group rules and its DHCP
// lease served, before the VMM opens it; Detach and Release remove it.
// A NIC change goes through the Applier's per-NIC path (NICApplier), whose
// cost does not grow with the number of instances on the host; any other
// change, and a NIC change that path cannot make, applies the whole State. Reconcile deletes
// every Ironvisor-prefixed link the state does not name, so after an
// appliance restart Sync removes the taps of VMMs that did not survive.
package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Applier converges the host to a desired network state.
type Applier interface {
	Apply(ctx context.Context, st netcfg.State) error
}

// NICApplier is an Applier that also converges the change of one NIC
// alone, on top of the last State it applied, at a cost that does not
// depend on the other NICs (in production netcfg's AttachNIC and
// DetachNIC, and the NIC's DHCP lease). An error means the change was not
// made, or not completely: the Net then applies the whole State, which
// makes the change and repairs the rest.
type NICApplier interface {
	Applier
	AttachNIC(ctx context.Context, c netcfg.NIC) error
	DetachNIC(ctx context.Context, c netcfg.NIC) error
}

// Options configure a Net.
type Options struct {
	// Dir holds the lease pools, one file per network; created with mode
	// 0700. Required.
	Dir string
	// Base carries the host-wide parts of every State applied: uplink,
	// metadata target, DNS, MTU. Its Networks, NICs and Groups are
	// ignored. A zero Base means no NAT, no metadata redirect and no DNS.
	Base netcfg.State
	// Apply converges the kernel. Required.
	Apply Applier
}

// NIC is one network interface of a running instance, as the host network
// set it up: the tap the VMM attaches to, the guest's MAC and the address
// the network's DHCP server hands that MAC. It is declared here, by what
// makes NICs, so that the orchestrator above and the composition root can
// use it without hostnet importing either.
type NIC struct {
	Network string
	Tap     string
	MAC     string
	IP      netip.Addr
}

// Net is the host network of the instances. It implements
// orchestrator.NICs; its NetworkChanged method is the domain's
// NetworkHook. It is safe for concurrent use.
type Net struct {
	opt Options

	// mu serialises every change and the Apply that follows it.
	mu       sync.Mutex
	networks []netcfg.Network        // guarded by mu: the stored networks
	groups   []netcfg.SecurityGroup  // guarded by mu: the stored groups
	forwards []netcfg.PortForward    // guarded by mu: the stored port forwards, live or not
	public   []netcfg.PublicIP       // guarded by mu: the stored public IPs, live or not
	pools    map[string]*netcfg.Pool // guarded by mu: network name → leases
	attached map[string]netcfg.NIC   // guarded by mu: instance id → NIC with a tap
	named    map[string]bool         // guarded by mu: instances with a port forward or public IP
}

// Open loads the lease pools from o.Dir, after removing the temporary
// files of saves a crash interrupted. It changes nothing on the host:
// Sync does, once the control plane knows which VMMs survived.
func Open(o Options) (*Net, error) {
	if o.Dir == "" || o.Apply == nil {
		return nil, errors.New("hostnet: Dir and Apply are required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostnet: %w", err)
	}
	if err := netcfg.RemovePoolTemps(o.Dir); err != nil {
		return nil, fmt.Errorf("hostnet: %w", err)
	}
	n := &Net{opt: o, pools: map[string]*netcfg.Pool{}, attached: map[string]netcfg.NIC{}}
	files, err := filepath.Glob(filepath.Join(o.Dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("hostnet: %w", err)
	}
	for _, f := range files {
		p, err := netcfg.LoadPool(f)
		if err != nil {
			return nil, fmt.Errorf("hostnet: %w", err)
		}
		if f, err = n.renameOldPool(f, p); err != nil {
			return nil, err
		}
		if f != n.poolPath(p.Network.Name) {
			return nil, fmt.Errorf("hostnet: pool file %s holds network %q", f, p.Network.Name)
		}
		n.pools[p.Network.Name] = p
	}
	return n, nil
}

// poolPath is the file of network name's pool.
func (n *Net) poolPath(name string) string { return filepath.Join(n.opt.Dir, name+".json") }

// state is the desired State: Base, the networks and groups, the
// attached NICs ordered by instance, and the port forwards and public IPs
// to them (one to an instance without a tap, a stopped one, waits).
// Without an uplink in Base there are none. The caller holds mu.
func (n *Net) state() netcfg.State {
	st := n.opt.Base
	st.Networks = append([]netcfg.Network(nil), n.networks...)
	st.Groups = append([]netcfg.SecurityGroup(nil), n.groups...)
	st.NICs = make([]netcfg.NIC, 0, len(n.attached))
	for _, c := range n.attached {
		st.NICs = append(st.NICs, c)
	}
	sort.Slice(st.NICs, func(i, j int) bool { return st.NICs[i].Instance < st.NICs[j].Instance })
	st.Forwards, st.PublicIPs = nil, nil
	live := func(inst, network string) bool {
		c, ok := n.attached[inst]
		return ok && c.Network == network && st.Uplink.Name != ""
	}
	for _, f := range n.forwards {
		if live(f.Instance, f.Network) {
			st.Forwards = append(st.Forwards, f)
		}
	}
	for _, p := range n.public {
		if live(p.Instance, p.Network) {
			st.PublicIPs = append(st.PublicIPs, p)
		}
	}
	return st
}

// apply converges the host to the desired state. The caller holds mu.
func (n *Net) apply(ctx context.Context) error {
	if err := n.opt.Apply.Apply(ctx, n.state()); err != nil {
		return fmt.Errorf("hostnet: %w", err)
	}
	return nil
}

// State returns the desired State last applied (or about to be).
func (n *Net) State() netcfg.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state()
}

// Lease returns the lease of instance id, if it has one.
func (n *Net) Lease(id string) (netcfg.Lease, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pools {
		if l, ok := p.Lookup(id); ok {
			return l, true
		}
	}
	return netcfg.Lease{}, false
}

// setNetworks takes the stored networks and groups from st and drops the
// pools of networks that are gone or were recreated with another index or
// prefix (their leases belonged to terminated instances: a network in use
// cannot be deleted). The caller holds mu.
func (n *Net) setNetworks(st netcfg.State) error {
	n.networks = append([]netcfg.Network(nil), st.Networks...)
	n.groups = append([]netcfg.SecurityGroup(nil), st.Groups...)
	n.forwards = append([]netcfg.PortForward(nil), st.Forwards...)
	n.public = append([]netcfg.PublicIP(nil), st.PublicIPs...)
	n.named = map[string]bool{}
	for _, f := range n.forwards {
		n.named[f.Instance] = true
	}
	for _, p := range n.public {
		n.named[p.Instance] = true
	}
	want := map[string]netcfg.Network{}
	for _, nw := range st.Networks {
		want[nw.Name] = nw
	}
	var errs []error
	for name, p := range n.pools {
		if nw, ok := want[name]; ok && nw.Index == p.Network.Index && nw.CIDR == p.Network.CIDR {
			continue
		}
		if err := os.Remove(n.poolPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("hostnet: %w", err))
			continue
		}
		delete(n.pools, name)
	}
	for id, c := range n.attached {
		if _, ok := want[c.Network]; !ok {
			delete(n.attached, id)
		}
	}
	return errors.Join(errs...)
}

// NetworkChanged is the control plane's NetworkHook: st holds every stored
// network and group after a change; the host converges to it.
func (n *Net) NetworkChanged(tenant string, st netcfg.State) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.setNetworks(st); err != nil {
		return err
	}
	// A network of another tenant that the kernel refuses is not this
	// change's failure: the Applier logged it, and the rest converged.
	return n.notOnly(n.apply(context.Background()), func(nw netcfg.Network) bool { return nw.Tenant != tenant })
}

// notOnly returns err unless it is only about networks that others holds
// for: those did not converge, everything else did. The caller holds mu.
func (n *Net) notOnly(err error, others func(netcfg.Network) bool) error {
	byName := map[string]netcfg.Network{}
	for _, nw := range n.networks {
		byName[nw.Name] = nw
	}
	if netcfg.OnlyNetworks(err, func(name string) bool { nw, ok := byName[name]; return ok && others(nw) }) {
		return nil
	}
	return err
}

// Attach gives instance in its NIC on in.Network: its lease (allocated and
// saved at the first start), and a tap on the network's bridge with the
// instance's security groups, in the kernel before Attach returns.
func (n *Net) Attach(ctx context.Context, in lifecycle.Instance) (NIC, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var nw *netcfg.Network
	host := netcfg.TenantName(in.TenantID, in.Network)
	for i := range n.networks {
		if n.networks[i].Name == host {
			nw = &n.networks[i]
		}
	}
	if nw == nil {
		return NIC{}, fmt.Errorf("hostnet: network %q does not exist", in.Network)
	}
	l, err := n.lease(*nw, in.ID)
	if err != nil {
		return NIC{}, err
	}
	c := netcfg.NIC{Instance: in.ID, Network: nw.Name, IP: l.IP, MAC: l.MAC, Groups: hostGroups(in)}
	prev, had := n.attached[in.ID]
	n.attached[in.ID] = c
	one := func(a NICApplier) error { return a.AttachNIC(ctx, c) }
	if had && prev.Network != c.Network {
		one = nil // two NICs change
	}
	// Another network the kernel refuses does not keep this NIC down.
	if err := n.notOnly(n.applyNIC(ctx, in.ID, one), func(o netcfg.Network) bool { return o.Name != nw.Name }); err != nil {
		if had {
			n.attached[in.ID] = prev
		} else {
			delete(n.attached, in.ID)
		}
		return NIC{}, err
	}
	tap := (&netcfg.State{Networks: []netcfg.Network{*nw}, NICs: []netcfg.NIC{c}}).TapName(in.ID, nw.Name)
	return NIC{Network: in.Network, Tap: tap, MAC: l.MAC, IP: l.IP}, nil
}

// applyNIC converges the change of instance id's NIC: through one, the
// Applier's per-NIC path, when it has one and no port forward or public
// IP follows the instance (they come and go with its tap, which changes
// more than one NIC's rules), else, or when that path fails, by applying
// the whole State. The caller holds mu.
func (n *Net) applyNIC(ctx context.Context, id string, one func(NICApplier) error) error {
	if a, ok := n.opt.Apply.(NICApplier); ok && one != nil && !n.named[id] {
		if one(a) == nil {
			return nil
		}
	}
	return n.apply(ctx)
}

// lease returns the instance's lease on nw, allocating and saving one if it
// has none. The caller holds mu.
func (n *Net) lease(nw netcfg.Network, id string) (netcfg.Lease, error) {
	p := n.pools[nw.Name]
	if p == nil {
		var err error
		if p, err = netcfg.NewPool(nw); err != nil {
			return netcfg.Lease{}, fmt.Errorf("hostnet: %w", err)
		}
		n.pools[nw.Name] = p
	}
	if l, ok := p.Lookup(id); ok {
		return l, nil
	}
	l, err := p.Allocate(id)
	if err != nil {
		return netcfg.Lease{}, fmt.Errorf("hostnet: %w", err)
	}
	if err := p.Save(n.poolPath(nw.Name)); err != nil {
		p.Release(id)
		return netcfg.Lease{}, fmt.Errorf("hostnet: save lease: %w", err)
	}
	return l, nil
}

// Detach removes the tap of instance id; its lease stays.
func (n *Net) Detach(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.attached[id]
	if !ok {
		return nil
	}
	delete(n.attached, id)
	detach := func(a NICApplier) error { return a.DetachNIC(ctx, c) }
	return n.notOnly(n.applyNIC(ctx, id, detach), func(o netcfg.Network) bool { return o.Name != c.Network })
}

// Release removes the NIC of instance id and frees its lease.
func (n *Net) Release(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for name, p := range n.pools {
		if p.Release(id) {
			errs = append(errs, n.save(name, p))
		}
	}
	if c, ok := n.attached[id]; ok {
		delete(n.attached, id)
		detach := func(a NICApplier) error { return a.DetachNIC(ctx, c) }
		errs = append(errs, n.notOnly(n.applyNIC(ctx, id, detach), func(o netcfg.Network) bool { return o.Name != c.Network }))
	}
	return errors.Join(errs...)
}

// save writes pool p of network name. The caller holds mu.
func (n *Net) save(name string, p *netcfg.Pool) error {
	if err := p.Save(n.poolPath(name)); err != nil {
		return fmt.Errorf("hostnet: save pool %s: %w", name, err)
	}
	return nil
}

// mayRun reports whether an instance in state s may have a VMM (and so
// keeps its tap across an appliance restart).
func mayRun(s lifecycle.State) bool {
	switch s {
	case lifecycle.Pending, lifecycle.Running, lifecycle.Stopping, lifecycle.ShuttingDown:
		return true
	}
	return false
}

// Sync converges the host once at start. st holds the stored networks and
// groups and insts every stored instance (after the control plane moved
// those whose VMM died to stopped). Leases of instances that are gone,
// terminated or now in another network are freed; instances that may have
// a VMM and hold a lease get their tap; every other Ironvisor link goes.
func (n *Net) Sync(ctx context.Context, st netcfg.State, insts []lifecycle.Instance) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	errs := []error{n.setNetworks(st)}
	byID := map[string]lifecycle.Instance{}
	for _, in := range insts {
		byID[in.ID] = in
	}
	clear(n.attached)
	for name, p := range n.pools {
		var stale []string
		for _, l := range p.Leases {
			in, ok := byID[l.Instance]
			switch {
			case !ok || in.State == lifecycle.Terminated || netcfg.TenantName(in.TenantID, in.Network) != name:
				stale = append(stale, l.Instance)
			case mayRun(in.State):
				n.attached[in.ID] = netcfg.NIC{Instance: in.ID, Network: name, IP: l.IP, MAC: l.MAC, Groups: hostGroups(in)}
			}
		}
		for _, id := range stale {
			p.Release(id)
		}
		if len(stale) > 0 {
			errs = append(errs, n.save(name, p))
		}
	}
	errs = append(errs, n.apply(ctx))
	return errors.Join(errs...)
}
