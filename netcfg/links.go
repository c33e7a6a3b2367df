package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// reconcileLinks converges bridges, taps and uplink public addresses. A
// bridge or tap the kernel refuses is reported in netErrs (as
// *NetworkError) and the other networks are converged all the same; the
// taps of a network whose bridge failed are left as they are. err is a
// failure of the whole host.
func (h *Host) reconcileLinks(ctx context.Context, ix *index, ch *Changes) (netErrs []error, err error) {
	byName, err := h.links.list(h.nl)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	failed := map[string]bool{}
	for _, n := range ix.st.Networks {
		if err := ctx.Err(); err != nil {
			return netErrs, err
		}
		want[n.Bridge()] = true
		br, err := h.ensureBridge(&n, ix.st.MTU, byName[n.Bridge()], ch)
		if err != nil {
			netErrs = append(netErrs, &NetworkError{Network: n.Name, Err: err})
			failed[n.Name] = true
			continue
		}
		byName[n.Bridge()] = br
	}
	for i := range ix.st.NICs {
		if err := ctx.Err(); err != nil {
			return netErrs, err
		}
		c := &ix.st.NICs[i]
		n := ix.nets[c.Network]
		name := c.tapName(n)
		want[name] = true
		if failed[c.Network] {
			continue
		}
		if err := h.ensurePort(c, name, byName[name], byName[n.Bridge()], ch); err != nil {
			netErrs = append(netErrs, &NetworkError{Network: c.Network, Instance: c.Instance, Err: err})
		}
	}
	if err := h.detachStrangers(ix, byName, want, ch); err != nil {
		return netErrs, err
	}
	// Taps first: deleting a bridge detaches its ports, it does not delete them.
	for _, prefix := range []string{TapPrefix, BridgePrefix} {
		for name, l := range byName {
			if strings.HasPrefix(name, prefix) && !want[name] {
				if err := h.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
					return netErrs, fmt.Errorf("delete stale link %s: %w", name, err)
				}
				*ch = append(*ch, "delete link "+name)
			}
		}
	}
	return netErrs, h.reconcilePublicAddrs(ix, byName[ix.st.Uplink.Name], ch)
}

// NetworkError is a network (or one NIC of it) the kernel refused; the
// other networks were converged.
type NetworkError struct {
	Network  string
	Instance string // the NIC's instance; "" for the network's bridge
	Err      error
}

func (e *NetworkError) Error() string {
	if e.Instance != "" {
		return fmt.Sprintf("network %s, nic of %s: %v", e.Network, e.Instance, e.Err)
	}
	return fmt.Sprintf("network %s: %v", e.Network, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// OnlyNetworks reports whether err is nil or made only of NetworkErrors
// about networks for which match is true: with match "not mine", that
// everything but those networks converged.
func OnlyNetworks(err error, match func(network string) bool) bool {
	if err == nil {
		return true
	}
	if ne, ok := err.(*NetworkError); ok {
		return match(ne.Network)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !OnlyNetworks(e, match) {
				return false
			}
		}
		return true
	}
	if u := errors.Unwrap(err); u != nil {
		return OnlyNetworks(u, match)
	}
	return false
}

// detachStrangers takes every port that no NIC wants off Ironvisor's
// bridges: frames from a port outside the anti-spoofing sets would not be
// checked (the bridge family here cannot match the bridge a port is on).
func (h *Host) detachStrangers(ix *index, byName map[string]netlink.Link, want map[string]bool, ch *Changes) error {
	ours := map[int]bool{}
	for _, n := range ix.st.Networks {
		if br := byName[n.Bridge()]; br != nil {
			ours[br.Attrs().Index] = true
		}
	}
	for name, l := range byName {
		if want[name] || !ours[l.Attrs().MasterIndex] || strings.HasPrefix(name, TapPrefix) {
			continue // stale taps are deleted below
		}
		if err := h.nl.LinkSetNoMaster(l); err != nil {
			return fmt.Errorf("detach %s from its bridge: %w", name, err)
		}
		*ch = append(*ch, "detach "+name)
	}
	return nil
}

func mtuOf(m int) int {
	if m == 0 {
		return 1500
	}
	return m
}

func (h *Host) ensureBridge(n *Network, mtu int, l netlink.Link, ch *Changes) (netlink.Link, error) {
	name := n.Bridge()
	if l != nil && l.Type() != "bridge" {
		return nil, fmt.Errorf("link %s exists and is a %s, not a bridge", name, l.Type())
	}
	if l == nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtuOf(mtu)}}
		if err := h.nl.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		*ch = append(*ch, "create bridge "+name)
		var err error
		if l, err = h.nl.LinkByName(name); err != nil {
			return nil, fmt.Errorf("find bridge %s: %w", name, err)
		}
	}
	if l.Attrs().MTU != mtuOf(mtu) {
		if err := h.nl.LinkSetMTU(l, mtuOf(mtu)); err != nil {
			return nil, fmt.Errorf("set mtu of %s: %w", name, err)
		}
		*ch = append(*ch, "set mtu "+name)
	}
	gw := netip.PrefixFrom(n.Gateway(), n.CIDR.Bits())
	if err := h.ensureOnlyAddrs(l, []netip.Prefix{gw}, "", ch); err != nil {
		return nil, err
	}
	return l, h.ensureUp(l, ch)
}

// ensureOnlyAddrs makes l's IPv4 addresses with the given label (all
// addresses when label is "") exactly want.
func (h *Host) ensureOnlyAddrs(l netlink.Link, want []netip.Prefix, label string, ch *Changes) error {
	name := l.Attrs().Name
	have, err := h.nl.AddrList(l, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", name, err)
	}
	keep := map[netip.Prefix]bool{}
	for _, a := range have {
		if label != "" && a.Label != label {
			continue
		}
		p := prefixOf(a.IPNet)
		if containsPrefix(want, p) {
			keep[p] = true
			continue
		}
		if err := h.nl.AddrDel(l, &a); err != nil {
			return fmt.Errorf("delete address %s from %s: %w", p, name, err)
		}
		*ch = append(*ch, fmt.Sprintf("delete address %s from %s", p, name))
	}
	for _, p := range want {
		if keep[p] {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}, Label: label}
		if err := h.nl.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, name, err)
		}
		*ch = append(*ch, fmt.Sprintf("add address %s to %s", p, name))
	}
	return nil
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP.To4())
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits)
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func (h *Host) ensureUp(l netlink.Link, ch *Changes) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	*ch = append(*ch, "set up "+l.Attrs().Name)
	return nil
}

// ensurePort creates the NIC's persistent tap (unless HostIfName names an
// existing interface), attaches it to the bridge and sets it up.
func (h *Host) ensurePort(c *NIC, name string, l, br netlink.Link, ch *Changes) error {
	if l == nil && c.HostIfName != "" {
		return fmt.Errorf("nic %s/%s: host interface %s does not exist", c.Instance, c.Network, name)
	}
	if t, ok := l.(*netlink.Tuntap); ok && c.HostIfName == "" && t.Owner != c.Owner {
		if err := h.nl.LinkDel(l); err != nil {
			return fmt.Errorf("delete tap %s with owner %d: %w", name, t.Owner, err)
		}
		*ch = append(*ch, "delete tap "+name+" (owner changed)")
		l = nil
	}
	if l == nil {
		tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: br.Attrs().MTU}, Owner: c.Owner,
			Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
		// TUNSETIFF creates the tap in the calling thread's namespace.
		// The fd that creates it also attaches the tap's one queue until
		// it is closed. A process forked meanwhile (the supervisor starts
		// VMMs concurrently) would hold a copy, close-on-exec or not,
		// until it execs, and the VMM's own TUNSETIFF would fail with
		// EBUSY: hold forks off (syscall.ForkLock, which the runtime's
		// fork takes for writing) until that fd is closed.
		syscall.ForkLock.RLock()
		err := h.Do(func() error { return h.nl.LinkAdd(tap) })
		for _, f := range tap.Fds {
			f.Close()
		}
		syscall.ForkLock.RUnlock()
		if err != nil {
			return fmt.Errorf("create tap %s: %w", name, err)
		}
		*ch = append(*ch, "create tap "+name)
		if l, err = h.nl.LinkByName(name); err != nil {
			return fmt.Errorf("find tap %s: %w", name, err)
		}
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", name, br.Attrs().Name, err)
		}
		*ch = append(*ch, "attach "+name)
	}
	return h.ensureUp(l, ch)
}

// reconcilePublicAddrs puts exactly the public IPs, as /32s labelled
// <uplink>:iv, on the uplink.
func (h *Host) reconcilePublicAddrs(ix *index, up netlink.Link, ch *Changes) error {
	if ix.st.Uplink.Name == "" {
		return nil
	}
	if up == nil {
		if len(ix.st.PublicIPs) > 0 {
			return fmt.Errorf("uplink %s does not exist", ix.st.Uplink.Name)
		}
		return nil
	}
	var want []netip.Prefix
	for _, p := range ix.st.PublicIPs {
		want = append(want, netip.PrefixFrom(p.Address, 32))
	}
	label := ix.st.Uplink.Name + uplinkLabelSuffix
	if err := h.ensureOnlyAddrs(up, want, label, ch); err != nil {
		return err
	}
	return h.readUplinkAddrs(ix, up, label)
}

// readUplinkAddrs asks the kernel for the uplink's own IPv4 addresses, the
// only destinations a port forward may match: every address on the link but
// the public IPs (labelled <uplink>:iv, and any address that is a public IP
// of the state under another label). A forward that matched any destination
// arriving on the uplink would take the traffic of every tenant's public IP
// and of the host's own services on that port. Uplink.Address, when set,
// narrows the forwards to that one address.
func (h *Host) readUplinkAddrs(ix *index, up netlink.Link, label string) error {
	if ix.st.Uplink.Address.IsValid() {
		ix.uplinkAddrs = []netip.Addr{ix.st.Uplink.Address}
		return nil
	}
	have, err := h.nl.AddrList(up, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", ix.st.Uplink.Name, err)
	}
	public := map[netip.Addr]bool{}
	for _, p := range ix.st.PublicIPs {
		public[p.Address] = true
	}
	ix.uplinkAddrs = nil
	for _, a := range have {
		addr := prefixOf(a.IPNet).Addr()
		if a.Label == label || public[addr] || !addr.IsGlobalUnicast() {
			continue
		}
		ix.uplinkAddrs = append(ix.uplinkAddrs, addr)
	}
	slices.SortFunc(ix.uplinkAddrs, netip.Addr.Compare)
	return nil
}
