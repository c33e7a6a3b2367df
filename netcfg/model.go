package netcfg

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
)

// State is the desired host network. Reconcile converges the kernel to it.
type State struct {
	// Uplink is the host's outside interface; empty Uplink.Name means no NAT,
	// port forwards or public IPs.
	Uplink Uplink `json:"uplink"`
	// Networks are the guest networks, one bridge each.
	Networks []Network `json:"networks"`
	// NICs are the instance NICs, one tap each.
	NICs []NIC `json:"nics"`
	// Groups are the security groups NICs refer to.
	Groups []SecurityGroup `json:"groups"`
	// Forwards are public port forwards on the uplink address.
	Forwards []PortForward `json:"forwards"`
	// PublicIPs are 1:1 NATs of extra uplink addresses.
	PublicIPs []PublicIP `json:"public_ips"`
	// Metadata is where guest traffic to 169.254.169.254:80 is redirected.
	// A zero Metadata disables the redirect.
	Metadata MetadataTarget `json:"metadata"`
	// DNS is served on the gateway address when true (UDP and TCP 53 open to
	// guests); when false those ports are closed to guests.
	DNS bool `json:"dns"`
	// DNSServers are handed to guests by DHCP. When empty and DNS is true,
	// the gateway is handed out.
	DNSServers []netip.Addr `json:"dns_servers"`
	// MTU is handed to guests by DHCP and set on bridges; 0 means 1500.
	MTU int `json:"mtu"`
	// GuestBlocked are prefixes guests may not open connections to
	// through the host: the management network (the uplink's own subnet,
	// with other appliances' APIs and BMCs). Replies to connections
	// opened from there (port forwards, public IPs) still pass. Empty
	// blocks nothing beyond the host's own ports.
	GuestBlocked []netip.Prefix `json:"guest_blocked,omitempty"`
	// HostNets are the host's own networks: the uplink's subnets and
	// gateway, the name servers, the public IP pool. No tenant network may
	// overlap them, nor Uplink.Address, DNSServers, PublicIPs or the
	// special ranges (0/8, 127/8, 169.254/16, 224/4, 240/4).
	HostNets []netip.Prefix `json:"host_nets,omitempty"`
}

// Uplink names the outside interface and its main address.
type Uplink struct {
	// Name is the interface name, for example "eth0".
	Name string `json:"name"`
	// Address is the uplink's main address, the target of port forwards.
	// When zero, Reconcile reads the uplink's own addresses from the kernel
	// (all but the public IPs), and forwards match those; never any other
	// destination.
	Address netip.Addr `json:"address"`
	// ManagementPorts are host TCP ports (the API) that guests must never
	// reach. Guests reach no host port but DHCP, DNS and metadata anyway;
	// these get their own counter so that attempts are visible.
	ManagementPorts []uint16 `json:"management_ports"`
}

// TenantName is the host-wide name of a tenant's network or security
// group called name: tenants choose names per tenant, and Network.Name,
// SecurityGroup.Name and every reference to them must be unique per host.
// Tenant IDs hold no '.', so the name is unambiguous.
func TenantName(tenant, name string) string { return tenant + "." + name }

// Network is a tenant's subnet with its own bridge.
type Network struct {
	// Name is unique per host (an appliance uses TenantName).
	Name string `json:"name"`
	// Tenant owns the network.
	Tenant string `json:"tenant"`
	// Index is a small number unique per host (1..MaxNetworkIndex), assigned
	// once by the caller and persisted; it names the bridge and the taps and
	// is part of every NIC's mark.
	Index int `json:"index"`
	// CIDR is the subnet, /16 to /29. The gateway is its first host address.
	CIDR netip.Prefix `json:"cidr"`
	// NoNAT disables outbound masquerade on the uplink (on by default).
	NoNAT bool `json:"no_nat"`
}

// MaxNetworkIndex is the largest Network.Index.
const MaxNetworkIndex = 0x7fff

// Gateway returns the first host address of the network.
func (n Network) Gateway() netip.Addr { return n.CIDR.Masked().Addr().Next() }

// Bridge returns the network's bridge name.
func (n Network) Bridge() string { return fmt.Sprintf("%s%d", BridgePrefix, n.Index) }

// NIC is one network interface of an instance.
type NIC struct {
	// Instance is the owning instance's ID.
	Instance string `json:"instance"`
	// Network is the network's Name.
	Network string `json:"network"`
	// IP is the NIC's address, from the network's IPAM.
	IP netip.Addr `json:"ip"`
	// MAC is the NIC's unicast MAC, from the network's IPAM.
	MAC string `json:"mac"`
	// Groups are security group names (same tenant); at least one.
	Groups []string `json:"groups"`
	// Owner is the uid allowed to attach to the tap (TUNSETOWNER), for a
	// VMM that runs unprivileged; 0 means root. A tap with another owner
	// is recreated.
	Owner uint32 `json:"owner,omitempty"`
	// HostIfName, when set, names an existing host-side interface (a veth in
	// tests) that Reconcile attaches instead of creating a tap. Reconcile
	// never creates or deletes it.
	HostIfName string `json:"host_ifname,omitempty"`
}

// Proto is a security-group or forward protocol.
type Proto string

// Protocols.
const (
	ProtoAll  Proto = "all"
	ProtoTCP  Proto = "tcp"
	ProtoUDP  Proto = "udp"
	ProtoICMP Proto = "icmp"
)

// Rule is one security-group rule. Ingress rules match the source, egress
// rules the destination: exactly one of CIDR and Group is set.
type Rule struct {
	// Proto is tcp, udp, icmp or all.
	Proto Proto `json:"proto"`
	// FromPort..ToPort is the port range for tcp and udp (0,0 means all).
	FromPort uint16 `json:"from_port"`
	ToPort   uint16 `json:"to_port"`
	// CIDR is the peer prefix.
	CIDR netip.Prefix `json:"cidr"`
	// Group is a peer security group (its members' addresses).
	Group string `json:"group"`
}

// SecurityGroup is a named, tenant-owned set of stateful rules. Ingress is
// denied unless a rule allows it. Egress is allowed unless one of the NIC's
// groups has egress rules; then only what they allow leaves.
type SecurityGroup struct {
	// Name is unique per host (an appliance uses TenantName).
	Name string `json:"name"`
	// Tenant owns the group; only its NICs and groups may refer to it.
	Tenant string `json:"tenant"`
	// Description is the owner's text about the group (at most
	// MaxGroupDescription bytes, printable); the rules ignore it.
	Description string `json:"description,omitempty"`
	// Ingress rules match the source of traffic to the NIC.
	Ingress []Rule `json:"ingress"`
	// Egress rules match the destination of traffic from the NIC.
	Egress []Rule `json:"egress"`
}

// PortForward forwards uplink Proto/PublicPort to a NIC's Port.
type PortForward struct {
	// Proto is tcp or udp.
	Proto Proto `json:"proto"`
	// PublicPort is the port on the uplink address.
	PublicPort uint16 `json:"public_port"`
	// Instance and Network name the target NIC.
	Instance string `json:"instance"`
	Network  string `json:"network"`
	// Port is the port on the NIC's address.
	Port uint16 `json:"port"`
}

// PublicIP maps an extra uplink address 1:1 onto a NIC.
type PublicIP struct {
	// Address is added to the uplink as a /32.
	Address netip.Addr `json:"address"`
	// Instance and Network name the target NIC.
	Instance string `json:"instance"`
	Network  string `json:"network"`
}

// MetadataTarget is the host metadata listener. An unspecified Addr
// (0.0.0.0) redirects to the gateway address of the guest's own bridge.
type MetadataTarget struct {
	// Addr is the listener's address; 0.0.0.0 means each bridge's own.
	Addr netip.Addr `json:"addr"`
	// Port is the listener's TCP port; 0 disables the redirect.
	Port uint16 `json:"port"`
}

// MetadataAddr is the link-local metadata address guests talk to.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// nameRE is what a name may hold: 1-127 bytes, room for TenantName of a
// 63-byte name (nft chain and set names take up to 255).
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,126}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: must be 1-127 letters, digits, '.', '_' or '-'", kind, name)
	}
	return nil
}

// ParseMAC parses a unicast Ethernet MAC address.
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("mac %q: %w", s, err)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("mac %q: not a 48-bit address", s)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("mac %q: multicast", s)
	}
	return mac, nil
}
