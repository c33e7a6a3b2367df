package netcfg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNeedReconcile is returned by AttachNIC and DetachNIC when the change
// cannot be made alone: no Reconcile converged everything since the Host
// was opened (or since a failure), the kernel is not as Reconcile left it
// (the NIC's bridge is gone, someone committed to the ruleset), or a port
// forward or public IP names the NIC. A Reconcile with the whole State
// then makes the change and repairs the rest.
var ErrNeedReconcile = errors.New("netcfg: the change needs a full Reconcile")

// AttachNIC adds c to the State of the last Reconcile, or replaces the NIC
// of the same instance and network, and converges the kernel to it: the
// NIC's tap on its bridge and its rules, in one small nftables
// transaction. Unlike Reconcile it neither validates nor compares the
// other NICs, lists no link and touches no other NIC's rules, so its
// cost does not depend on how many NICs there are. A Reconcile with that
// State afterwards changes nothing (TestNICPathMatchesReconcile). It
// returns ErrNeedReconcile when it cannot make the change alone, having
// changed nothing, an error wrapping ErrInvalid for a NIC that Reconcile
// would refuse, and a *NetworkError for a tap the kernel refuses; after
// any other failure, the next change needs a Reconcile.
func (h *Host) AttachNIC(ctx context.Context, c NIC) (Changes, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ix, in, err := h.incremental(nicKey{c.Instance, c.Network})
	if err != nil {
		return nil, err
	}
	k := nicKey{c.Instance, c.Network}
	c.Groups = slices.Clone(c.Groups)
	old := ix.nics[k]
	ix.removeNIC(k)
	if err := ix.addNIC(&c); err != nil {
		if old != nil {
			ix.addNIC(old) // it was valid a moment ago
		}
		return nil, err
	}
	n := ix.nets[c.Network]
	br := h.links.get(n.Bridge())
	if br == nil || br.Type() != "bridge" || br.Attrs().Flags&unix.IFF_UP == 0 {
		ix.removeNIC(k)
		if old != nil {
			ix.addNIC(old)
		}
		return nil, ErrNeedReconcile
	}
	// From here on a failure leaves the kernel between two States.
	h.cur = nil
	var ch Changes
	name := c.tapName(n)
	if old != nil && old.tapName(n) != name {
		if err := h.removePort(old, old.tapName(n), br, &ch); err != nil {
			return ch, &NetworkError{Network: c.Network, Instance: c.Instance, Err: err}
		}
	}
	if err := h.ensurePort(&c, name, h.links.get(name), br, &ch); err != nil {
		return ch, &NetworkError{Network: c.Network, Instance: c.Instance, Err: err}
	}
	gone, added := []nicRules(nil), []nicRules{ix.nicRules(&c)}
	if old != nil {
		ix.digest.remove(old)
		if o := in.nics[old.tapName(n)]; o != added[0] {
			gone = append(gone, o)
		} else {
			added = nil // the same rules
		}
	}
	ix.digest.add(&c)
	changed, err := h.applyNICDelta(ix, in, string(fullFingerprint([]byte(in.structural), ix.digest)), gone, added)
	if err != nil {
		return ch, err
	}
	if changed {
		ch = append(ch, "nftables NIC "+name)
	}
	h.cur = ix
	return ch, nil
}

// DetachNIC takes the NIC of instance on network out of the State of the
// last Reconcile and converges the kernel to it: the tap deleted (a host
// interface named by HostIfName is only taken off the bridge) and the
// NIC's rules removed, at a cost that does not depend on the other NICs.
// A NIC that is not there is not an error. It fails as AttachNIC does.
func (h *Host) DetachNIC(ctx context.Context, instance, network string) (Changes, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := nicKey{instance, network}
	ix, in, err := h.incremental(k)
	if err != nil {
		return nil, err
	}
	c := ix.nics[k]
	if c == nil {
		return nil, nil
	}
	n := ix.nets[network]
	h.cur = nil
	var ch Changes
	name := c.tapName(n)
	if err := h.removePort(c, name, h.links.get(n.Bridge()), &ch); err != nil {
		return ch, &NetworkError{Network: network, Instance: instance, Err: err}
	}
	ix.removeNIC(k)
	ix.digest.remove(c)
	changed, err := h.applyNICDelta(ix, in, string(fullFingerprint([]byte(in.structural), ix.digest)),
		[]nicRules{in.nics[name]}, nil)
	if err != nil {
		return ch, err
	}
	if changed {
		ch = append(ch, "nftables NIC "+name)
	}
	h.cur = ix
	return ch, nil
}

// incremental returns the State and rules that a change of NIC k starts
// from, with the link mirror brought up to date, or ErrNeedReconcile.
// The caller holds h.mu.
func (h *Host) incremental(k nicKey) (*index, *installed, error) {
	ix, in := h.cur, h.rules
	if ix == nil || in == nil || ix.named[k] {
		return nil, nil, ErrNeedReconcile
	}
	if !h.intact(in) {
		return nil, nil, ErrNeedReconcile
	}
	if err := h.links.sync(h.nl); err != nil {
		return nil, nil, err
	}
	return ix, in, nil
}

// removePort deletes the NIC's tap, or takes the host interface named by
// HostIfName off the bridge br, as Reconcile does with the ports that no
// NIC wants.
func (h *Host) removePort(c *NIC, name string, br netlink.Link, ch *Changes) error {
	l := h.links.get(name)
	switch {
	case l == nil:
		return nil
	case strings.HasPrefix(name, TapPrefix):
		if err := h.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("delete tap %s: %w", name, err)
		}
		*ch = append(*ch, "delete link "+name)
	case br != nil && l.Attrs().MasterIndex == br.Attrs().Index:
		if err := h.nl.LinkSetNoMaster(l); err != nil {
			return fmt.Errorf("detach %s from its bridge: %w", name, err)
		}
		*ch = append(*ch, "detach "+name)
	}
	return nil
}

// clone returns a copy of s that shares no slice with it.
func (s State) clone() State {
	s.Uplink.ManagementPorts = slices.Clone(s.Uplink.ManagementPorts)
	s.Networks = slices.Clone(s.Networks)
	s.NICs = slices.Clone(s.NICs)
	for i := range s.NICs {
		s.NICs[i].Groups = slices.Clone(s.NICs[i].Groups)
	}
	s.Groups = slices.Clone(s.Groups)
	for i := range s.Groups {
		s.Groups[i].Ingress = slices.Clone(s.Groups[i].Ingress)
		s.Groups[i].Egress = slices.Clone(s.Groups[i].Egress)
	}
	s.Forwards = slices.Clone(s.Forwards)
	s.PublicIPs = slices.Clone(s.PublicIPs)
	s.DNSServers = slices.Clone(s.DNSServers)
	s.GuestBlocked = slices.Clone(s.GuestBlocked)
	s.HostNets = slices.Clone(s.HostNets)
	return s
}
