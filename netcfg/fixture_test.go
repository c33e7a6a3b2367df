package netcfg

import (
	"net/netip"
	"testing"
)

var (
	netA = Network{Name: "a", Tenant: "t1", Index: 1, CIDR: netip.MustParsePrefix("10.1.0.0/24")}
	netB = Network{Name: "b", Tenant: "t2", Index: 2, CIDR: netip.MustParsePrefix("10.2.0.0/24")}

	uplinkAddr = netip.MustParsePrefix("192.0.2.1/24")
	outside    = netip.MustParsePrefix("192.0.2.2/24")
)

// world is the standard test topology: tenant t1's network a with guests
// g1 and g2, tenant t2's network b with guest g3, an uplink to an outside
// namespace, and a metadata redirect to port 8775 on the gateway.
type world struct {
	*lab
	st         State
	g1, g2, g3 *peer
	out        *peer
}

func guestNIC(inst string, n Network, host byte, groups ...string) NIC {
	ip := n.CIDR.Addr().As4()
	ip[3] = host
	return NIC{Instance: inst, Network: n.Name, IP: netip.AddrFrom4(ip),
		MAC: MACFor(n, uint32(host)).String(), Groups: groups, HostIfName: "v-" + inst}
}

func newWorld(t testing.TB) *world {
	l := newLab(t)
	w := &world{lab: l}
	w.st = State{
		Uplink:   Uplink{Name: "up0", Address: uplinkAddr.Addr(), ManagementPorts: []uint16{8443}},
		Networks: []Network{netA, netB},
		Groups: []SecurityGroup{
			{Name: "a-default", Tenant: "t1", Ingress: []Rule{{Proto: ProtoAll, Group: "a-default"}}},
			{Name: "b-default", Tenant: "t2", Ingress: []Rule{{Proto: ProtoAll, Group: "b-default"}}},
		},
		NICs: []NIC{
			guestNIC("g1", netA, 2, "a-default"),
			guestNIC("g2", netA, 3, "a-default"),
			guestNIC("g3", netB, 2, "b-default"),
		},
		Metadata: MetadataTarget{Addr: netip.IPv4Unspecified(), Port: 8775},
	}
	w.out = l.addUplink(t, uplinkAddr, outside)
	peers := make([]*peer, 3)
	for i, c := range w.st.NICs {
		n := netA
		if c.Network == "b" {
			n = netB
		}
		peers[i] = l.addPeer(t, c.HostIfName, c.MAC, netip.PrefixFrom(c.IP, n.CIDR.Bits()), n.Gateway())
	}
	w.g1, w.g2, w.g3 = peers[0], peers[1], peers[2]
	w.reconcile(t, w.st)
	waitUp(t, l.ns, netA.Bridge(), netB.Bridge())
	return w
}

func (w *world) nic(inst string) *NIC {
	for i := range w.st.NICs {
		if w.st.NICs[i].Instance == inst {
			return &w.st.NICs[i]
		}
	}
	return nil
}
