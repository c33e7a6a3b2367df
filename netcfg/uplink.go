package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Uplink helpers for the appliance: VLAN sub-interfaces, an active-backup
// bond of NICs, and static addressing. The DHCP client for the uplink lives
// in the appliance; these cover the static and layered cases. Each is
// idempotent and reports what it changed.

// ErrUnsupported is returned when the kernel lacks a link type (for
// example VLAN_8021Q or BONDING, absent on the development host).
var ErrUnsupported = errors.New("link type not supported by this kernel")

// EnsureVLAN creates (if needed) the 802.1Q sub-interface name on parent
// with the given VLAN id and sets it up.
func (h *Host) EnsureVLAN(parent string, id int, name string) (Changes, error) {
	if id < 1 || id > 4094 {
		return nil, fmt.Errorf("vlan id %d: must be 1..4094", id)
	}
	if err := checkIfName("vlan", name); err != nil {
		return nil, err
	}
	p, err := h.nl.LinkByName(parent)
	if err != nil {
		return nil, fmt.Errorf("vlan parent %s: %w", parent, err)
	}
	var ch Changes
	l, err := h.nl.LinkByName(name)
	if err == nil {
		v, ok := l.(*netlink.Vlan)
		if !ok || v.VlanId != id || v.ParentIndex != p.Attrs().Index {
			return nil, fmt.Errorf("link %s exists and is not vlan %d on %s", name, id, parent)
		}
	} else {
		v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: p.Attrs().Index}, VlanId: id}
		if err := h.nl.LinkAdd(v); err != nil {
			return nil, linkAddErr("vlan "+name, err)
		}
		ch = append(ch, "create vlan "+name)
		if l, err = h.nl.LinkByName(name); err != nil {
			return ch, fmt.Errorf("find vlan %s: %w", name, err)
		}
	}
	return ch, h.ensureUp(l, &ch)
}

func linkAddErr(what string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("create %s: %w (%v)", what, ErrUnsupported, err)
	}
	return fmt.Errorf("create %s: %w", what, err)
}

// EnsureBond creates (if needed) an active-backup bond with MII link
// monitoring, enslaves the given NICs (setting them down first, as the
// bonding driver requires) and sets everything up.
func (h *Host) EnsureBond(name string, slaves []string) (Changes, error) {
	if err := checkIfName("bond", name); err != nil {
		return nil, err
	}
	if len(slaves) == 0 {
		return nil, errors.New("bond: no member interfaces")
	}
	var ch Changes
	l, err := h.nl.LinkByName(name)
	if err != nil {
		b := netlink.NewLinkBond(netlink.LinkAttrs{Name: name})
		b.Mode = netlink.BOND_MODE_ACTIVE_BACKUP
		b.Miimon = 100
		if err := h.nl.LinkAdd(b); err != nil {
			return nil, linkAddErr("bond "+name, err)
		}
		ch = append(ch, "create bond "+name)
		if l, err = h.nl.LinkByName(name); err != nil {
			return ch, fmt.Errorf("find bond %s: %w", name, err)
		}
	} else if l.Type() != "bond" {
		return nil, fmt.Errorf("link %s exists and is a %s, not a bond", name, l.Type())
	}
	for _, s := range slaves {
		sl, err := h.nl.LinkByName(s)
		if err != nil {
			return ch, fmt.Errorf("bond member %s: %w", s, err)
		}
		if sl.Attrs().MasterIndex == l.Attrs().Index {
			continue
		}
		if err := h.nl.LinkSetDown(sl); err != nil {
			return ch, fmt.Errorf("set %s down: %w", s, err)
		}
		if err := h.nl.LinkSetMaster(sl, l); err != nil {
			return ch, fmt.Errorf("enslave %s to %s: %w", s, name, err)
		}
		ch = append(ch, "enslave "+s)
		if err := h.nl.LinkSetUp(sl); err != nil {
			return ch, fmt.Errorf("set %s up: %w", s, err)
		}
	}
	return ch, h.ensureUp(l, &ch)
}

// StaticRoute is a route through a gateway.
type StaticRoute struct {
	// Dst is the destination prefix.
	Dst netip.Prefix `json:"dst"`
	// Via is the next hop.
	Via netip.Addr `json:"via"`
}

// StaticConfig is a static uplink configuration.
type StaticConfig struct {
	// Address is the interface address with its prefix length.
	Address netip.Prefix `json:"address"`
	// Gateway is the default route's next hop; zero means no default route.
	Gateway netip.Addr `json:"gateway"`
	// Routes are extra routes.
	Routes []StaticRoute `json:"routes"`
	// DNS servers and search domains, for WriteResolvConf.
	DNS    []netip.Addr `json:"dns"`
	Search []string     `json:"search"`
}

// Validate checks the configuration.
func (c StaticConfig) Validate() error {
	if !c.Address.IsValid() || !c.Address.Addr().Is4() || c.Address.Bits() == 0 {
		return invalid("static address %s: want an IPv4 address with prefix", c.Address)
	}
	if c.Gateway.IsValid() && !c.Gateway.Is4() {
		return invalid("gateway %s: IPv4 only", c.Gateway)
	}
	for _, r := range c.Routes {
		if !r.Dst.IsValid() || !r.Dst.Addr().Is4() || !r.Via.Is4() {
			return invalid("route %s via %s: IPv4 only", r.Dst, r.Via)
		}
	}
	for _, d := range c.DNS {
		if !d.Is4() {
			return invalid("dns %s: IPv4 only", d)
		}
	}
	for _, s := range c.Search {
		if s == "" || strings.ContainsAny(s, " \t\n\r#;") {
			return invalid("search domain %q", s)
		}
	}
	return nil
}

// SetStatic gives ifname the static address (keeping addresses labelled
// as public IPs) and replaces its default route and extra routes, then
// sets it up.
func (h *Host) SetStatic(ifname string, c StaticConfig) (Changes, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: %w", ifname, err)
	}
	var ch Changes
	if err := h.ensureOnlyAddrs(l, []netip.Prefix{c.Address}, ifname, &ch); err != nil {
		return ch, err
	}
	if err := h.ensureUp(l, &ch); err != nil {
		return ch, err
	}
	routes := c.Routes
	if c.Gateway.IsValid() {
		routes = append([]StaticRoute{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: c.Gateway}}, routes...)
	}
	for _, r := range routes {
		rt := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: r.Dst.Masked().Addr().AsSlice(),
			Mask: net.CIDRMask(r.Dst.Bits(), 32)}, Gw: r.Via.AsSlice()}
		if err := h.nl.RouteReplace(rt); err != nil {
			return ch, fmt.Errorf("route %s via %s: %w", r.Dst, r.Via, err)
		}
	}
	return ch, nil
}

// ResolvConf renders resolv.conf(5) for the configuration.
func (c StaticConfig) ResolvConf() []byte {
	var b strings.Builder
	b.WriteString("# written by ironvisor\n")
	if len(c.Search) > 0 {
		b.WriteString("search " + strings.Join(c.Search, " ") + "\n")
	}
	for _, d := range c.DNS {
		b.WriteString("nameserver " + d.String() + "\n")
	}
	return []byte(b.String())
}

// WriteResolvConf writes ResolvConf to path atomically.
func (c StaticConfig) WriteResolvConf(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return writeFileAtomic(path, c.ResolvConf())
}
