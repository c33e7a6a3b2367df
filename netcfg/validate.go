package netcfg

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid network state")

// specialRanges are IPv4 ranges no network may use: "this network",
// loopback, link-local (the metadata address), multicast and reserved
// (RFC 6890).
var specialRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// hostRanges returns what tenant networks may not overlap: the special
// ranges and the host's own networks and addresses.
func (s *State) hostRanges() []netip.Prefix {
	out := append(append([]netip.Prefix(nil), specialRanges...), s.HostNets...)
	for _, a := range append([]netip.Addr{s.Uplink.Address}, s.DNSServers...) {
		if a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	for _, p := range s.PublicIPs {
		if p.Address.Is4() {
			out = append(out, netip.PrefixFrom(p.Address, 32))
		}
	}
	return out
}

// nicKey identifies a NIC: one per instance and network.
type nicKey struct{ instance, network string }

// index is a validated State with lookups.
type index struct {
	st     *State
	nets   map[string]*Network
	nics   map[nicKey]*NIC
	groups map[string]*SecurityGroup
	// macs, ips and taps find the NIC that holds a MAC, an address or a
	// host interface, so that a NIC is checked against the others in
	// O(1) (addNIC).
	macs map[string]nicKey
	ips  map[netip.Addr]nicKey
	taps map[string]nicKey
	// named are the NICs that port forwards and public IPs name.
	named map[nicKey]bool
	// digest is the digest of the NICs, set by fingerprints and kept
	// up to date by AttachNIC and DetachNIC.
	digest nicDigest
	// uplinkAddrs are the uplink's own addresses, read from the kernel by
	// Reconcile (readUplinkAddrs): the destinations port forwards match.
	uplinkAddrs []netip.Addr
}

// Validate checks the whole state and returns the first problem, wrapped in
// ErrInvalid.
func (s *State) Validate() error {
	_, err := s.index()
	return err
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func (s *State) index() (*index, error) {
	ix := &index{st: s, nets: map[string]*Network{}, nics: map[nicKey]*NIC{}, groups: map[string]*SecurityGroup{},
		macs: map[string]nicKey{}, ips: map[netip.Addr]nicKey{}, taps: map[string]nicKey{}, named: map[nicKey]bool{}}
	if err := s.validateTop(); err != nil {
		return nil, err
	}
	if err := ix.addNetworks(); err != nil {
		return nil, err
	}
	if err := ix.addGroups(); err != nil {
		return nil, err
	}
	if err := ix.addNICs(); err != nil {
		return nil, err
	}
	if err := ix.checkPublic(); err != nil {
		return nil, err
	}
	return ix, nil
}

func checkIfName(kind, name string) error {
	if name == "" || len(name) > 15 || !nameRE.MatchString(name) {
		return invalid("%s interface name %q: must be 1-15 letters, digits, '.', '_' or '-'", kind, name)
	}
	return nil
}

func (s *State) validateTop() error {
	if s.Uplink.Name != "" {
		if err := checkIfName("uplink", s.Uplink.Name); err != nil {
			return err
		}
		if len(s.Uplink.Name)+len(uplinkLabelSuffix) > 15 {
			return invalid("uplink name %q too long for an address label", s.Uplink.Name)
		}
	}
	if s.Uplink.Address.IsValid() && !s.Uplink.Address.Is4() {
		return invalid("uplink address %s: IPv4 only", s.Uplink.Address)
	}
	if s.MTU != 0 && (s.MTU < 576 || s.MTU > 9000) {
		return invalid("mtu %d: must be 576..9000", s.MTU)
	}
	if s.Metadata.Port != 0 && !s.Metadata.Addr.Is4() {
		return invalid("metadata listener %s: IPv4 only", s.Metadata.Addr)
	}
	for _, d := range s.DNSServers {
		if !d.Is4() {
			return invalid("dns server %s: IPv4 only", d)
		}
	}
	for _, p := range s.HostNets {
		if !p.IsValid() || !p.Addr().Is4() {
			return invalid("host network %s: IPv4 only", p)
		}
	}
	for _, p := range s.GuestBlocked {
		if !p.IsValid() || !p.Addr().Is4() {
			return invalid("guest-blocked prefix %s: IPv4 only", p)
		}
	}
	return nil
}

func (ix *index) addNetworks() error {
	byIndex := map[int]string{}
	host := ix.st.hostRanges()
	for i := range ix.st.Networks {
		n := &ix.st.Networks[i]
		if err := checkName("network", n.Name); err != nil {
			return invalid("%v", err)
		}
		if err := checkName("tenant", n.Tenant); err != nil {
			return invalid("network %s: %v", n.Name, err)
		}
		if _, dup := ix.nets[n.Name]; dup {
			return invalid("network %s: duplicate name", n.Name)
		}
		if n.Index < 1 || n.Index > MaxNetworkIndex {
			return invalid("network %s: index %d out of 1..%d", n.Name, n.Index, MaxNetworkIndex)
		}
		if other, dup := byIndex[n.Index]; dup {
			return invalid("network %s: index %d already used by %s", n.Name, n.Index, other)
		}
		if !n.CIDR.IsValid() || !n.CIDR.Addr().Is4() || n.CIDR.Bits() < 16 || n.CIDR.Bits() > 29 {
			return invalid("network %s: cidr %s must be an IPv4 /16../29", n.Name, n.CIDR)
		}
		if n.CIDR.Masked() != n.CIDR {
			return invalid("network %s: cidr %s has host bits set", n.Name, n.CIDR)
		}
		for _, h := range host {
			if h.IsValid() && n.CIDR.Overlaps(h) {
				return invalid("network %s: cidr %s overlaps the host's %s", n.Name, n.CIDR, h)
			}
		}
		for _, o := range ix.nets {
			if o.CIDR.Overlaps(n.CIDR) {
				return invalid("network %s: cidr %s overlaps network %s (%s)", n.Name, n.CIDR, o.Name, o.CIDR)
			}
		}
		byIndex[n.Index] = n.Name
		ix.nets[n.Name] = n
	}
	return nil
}

func (ix *index) addGroups() error {
	for i := range ix.st.Groups {
		g := &ix.st.Groups[i]
		if err := checkName("group", g.Name); err != nil {
			return invalid("%v", err)
		}
		if err := checkName("tenant", g.Tenant); err != nil {
			return invalid("group %s: %v", g.Name, err)
		}
		if _, dup := ix.groups[g.Name]; dup {
			return invalid("group %s: duplicate name", g.Name)
		}
		ix.groups[g.Name] = g
	}
	for _, g := range ix.groups {
		for dir, rules := range map[string][]Rule{"ingress": g.Ingress, "egress": g.Egress} {
			for j, r := range rules {
				if err := ix.checkRule(g, r); err != nil {
					return invalid("group %s %s rule %d: %v", g.Name, dir, j, err)
				}
			}
		}
	}
	return nil
}

func (ix *index) checkRule(g *SecurityGroup, r Rule) error {
	switch r.Proto {
	case ProtoTCP, ProtoUDP:
		if r.FromPort > r.ToPort {
			return fmt.Errorf("port range %d-%d is reversed", r.FromPort, r.ToPort)
		}
		if r.FromPort == 0 && r.ToPort != 0 {
			return fmt.Errorf("port range %d-%d starts at 0", r.FromPort, r.ToPort)
		}
	case ProtoICMP, ProtoAll:
		if r.FromPort != 0 || r.ToPort != 0 {
			return fmt.Errorf("protocol %s takes no ports", r.Proto)
		}
	default:
		return fmt.Errorf("protocol %q: want tcp, udp, icmp or all", r.Proto)
	}
	switch {
	case r.CIDR.IsValid() && r.Group != "":
		return errors.New("both cidr and group set")
	case r.CIDR.IsValid():
		if !r.CIDR.Addr().Is4() {
			return fmt.Errorf("cidr %s: IPv4 only", r.CIDR)
		}
	case r.Group != "":
		peer, ok := ix.groups[r.Group]
		if !ok {
			return fmt.Errorf("unknown group %q", r.Group)
		}
		if peer.Tenant != g.Tenant {
			return fmt.Errorf("group %q belongs to another tenant", r.Group)
		}
	default:
		return errors.New("neither cidr nor group set")
	}
	return nil
}

func (ix *index) addNICs() error {
	for i := range ix.st.NICs {
		if err := ix.addNIC(&ix.st.NICs[i]); err != nil {
			return err
		}
	}
	return nil
}

// addNIC checks c against the networks, groups and NICs of the index and
// adds it; its cost does not depend on the number of NICs.
func (ix *index) addNIC(c *NIC) error {
	if err := ix.checkNIC(c); err != nil {
		return invalid("nic %s/%s: %v", c.Instance, c.Network, err)
	}
	k := nicKey{c.Instance, c.Network}
	if _, dup := ix.nics[k]; dup {
		return invalid("nic %s/%s: duplicate", c.Instance, c.Network)
	}
	mac, _ := ParseMAC(c.MAC)
	if o, dup := ix.macs[mac.String()]; dup {
		return invalid("nic %s/%s: mac %s already used by %s", c.Instance, c.Network, mac, o.instance)
	}
	if o, dup := ix.ips[c.IP]; dup {
		return invalid("nic %s/%s: ip %s already used by %s", c.Instance, c.Network, c.IP, o.instance)
	}
	tap := c.tapName(ix.nets[c.Network])
	if o, dup := ix.taps[tap]; dup {
		return invalid("nic %s/%s: interface %s already used by %s", c.Instance, c.Network, tap, o.instance)
	}
	ix.macs[mac.String()], ix.ips[c.IP], ix.taps[tap] = k, k, k
	ix.nics[k] = c
	return nil
}

// removeNIC takes the NIC k out of the index.
func (ix *index) removeNIC(k nicKey) {
	c, ok := ix.nics[k]
	if !ok {
		return
	}
	mac, _ := ParseMAC(c.MAC)
	delete(ix.macs, mac.String())
	delete(ix.ips, c.IP)
	delete(ix.taps, c.tapName(ix.nets[c.Network]))
	delete(ix.nics, k)
}

func (ix *index) checkNIC(c *NIC) error {
	if err := checkName("instance", c.Instance); err != nil {
		return err
	}
	n, ok := ix.nets[c.Network]
	if !ok {
		return fmt.Errorf("unknown network %q", c.Network)
	}
	if _, err := ParseMAC(c.MAC); err != nil {
		return err
	}
	if _, err := hostOffset(n, c.IP); err != nil {
		return err
	}
	if c.HostIfName != "" {
		if err := checkIfName("host", c.HostIfName); err != nil {
			return err
		}
	}
	if len(c.Groups) == 0 {
		return errors.New("no security group")
	}
	for _, gn := range c.Groups {
		g, ok := ix.groups[gn]
		if !ok {
			return fmt.Errorf("unknown group %q", gn)
		}
		if g.Tenant != n.Tenant {
			return fmt.Errorf("group %q belongs to another tenant", gn)
		}
	}
	return nil
}

func (ix *index) checkPublic() error {
	needUplink := len(ix.st.Forwards) > 0 || len(ix.st.PublicIPs) > 0
	if needUplink && ix.st.Uplink.Name == "" {
		return invalid("port forwards and public IPs need an uplink")
	}
	seen := map[string]bool{}
	for i, f := range ix.st.Forwards {
		if f.Proto != ProtoTCP && f.Proto != ProtoUDP {
			return invalid("forward %d: protocol %q: want tcp or udp", i, f.Proto)
		}
		if f.PublicPort == 0 || f.Port == 0 {
			return invalid("forward %d: ports must be non-zero", i)
		}
		k := fmt.Sprintf("%s/%d", f.Proto, f.PublicPort)
		if seen[k] {
			return invalid("forward %d: %s already forwarded", i, k)
		}
		seen[k] = true
		if _, ok := ix.nics[nicKey{f.Instance, f.Network}]; !ok {
			return invalid("forward %d: unknown nic %s/%s", i, f.Instance, f.Network)
		}
		ix.named[nicKey{f.Instance, f.Network}] = true
	}
	addrs := map[netip.Addr]bool{}
	nics := map[nicKey]bool{}
	for i, p := range ix.st.PublicIPs {
		k := nicKey{p.Instance, p.Network}
		if !p.Address.Is4() || p.Address.IsUnspecified() {
			return invalid("public ip %d: address %s: IPv4 only", i, p.Address)
		}
		if _, ok := ix.nics[k]; !ok {
			return invalid("public ip %d: unknown nic %s/%s", i, p.Instance, p.Network)
		}
		if addrs[p.Address] || nics[k] || p.Address == ix.st.Uplink.Address {
			return invalid("public ip %d: %s or its nic is already mapped", i, p.Address)
		}
		addrs[p.Address], nics[k], ix.named[k] = true, true, true
	}
	return nil
}
