package netcfg

import (
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func dhcpState() State {
	st := testState()
	st.MTU = 1400
	st.DNS = true
	return st
}

func discover(t testing.TB, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(mac)
	must(t, err)
	return d
}

func TestLeaseReplyOptions(t *testing.T) {
	lt, err := NewLeaseTable(dhcpState(), "a")
	must(t, err)
	mac, _ := ParseMAC("02:49:00:01:00:02")
	offer, err := lt.Reply(discover(t, mac))
	must(t, err)
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.Equal(net.IPv4(10, 1, 0, 2)) {
		t.Fatalf("offer %v", offer.Summary())
	}
	if r := offer.Router(); len(r) != 1 || !r[0].Equal(net.IPv4(10, 1, 0, 1)) {
		t.Fatalf("router %v", r)
	}
	if m := offer.SubnetMask(); m.String() != "ffffff00" {
		t.Fatalf("mask %v", m)
	}
	if d := offer.DNS(); len(d) != 1 || !d[0].Equal(net.IPv4(10, 1, 0, 1)) {
		t.Fatalf("dns %v", d)
	}
	if mtu := offer.GetOneOption(dhcpv4.OptionInterfaceMTU); len(mtu) != 2 || int(mtu[0])<<8|int(mtu[1]) != 1400 {
		t.Fatalf("mtu %v", mtu)
	}
	if lt := offer.IPAddressLeaseTime(0); lt != DefaultLeaseTime {
		t.Fatalf("lease time %v", lt)
	}
	routes := offer.ClasslessStaticRoute()
	if len(routes) != 2 || routes[0].Dest.String() != "169.254.169.254/32" || !routes[0].Router.Equal(net.IPv4(10, 1, 0, 1)) {
		t.Fatalf("routes %v", routes)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer)
	must(t, err)
	ack, err := lt.Reply(req)
	must(t, err)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(net.IPv4(10, 1, 0, 2)) {
		t.Fatalf("ack %v", ack.Summary())
	}
	req.UpdateOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 1, 0, 77)))
	nak, err := lt.Reply(req)
	must(t, err)
	if nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("request for another address: %v", nak.Summary())
	}
}

func TestLeaseIgnoresStrangers(t *testing.T) {
	lt, err := NewLeaseTable(dhcpState(), "a")
	must(t, err)
	// g2's MAC is on network b, not a; the rest are random.
	other, _ := ParseMAC("02:49:00:02:00:02")
	for i := 0; i < 50; i++ {
		mac := make(net.HardwareAddr, 6)
		rand.Read(mac)
		if i == 0 {
			mac = other
		}
		if r, err := lt.Reply(discover(t, mac)); !errors.Is(err, errIgnore) {
			t.Fatalf("chaddr %s got %v, %v", mac, r, err)
		}
	}
	mac, _ := ParseMAC("02:49:00:01:00:02")
	bad := discover(t, mac)
	bad.OpCode = dhcpv4.OpcodeBootReply
	if _, err := lt.Reply(bad); !errors.Is(err, errIgnore) {
		t.Fatalf("BOOTREPLY from a guest answered: %v", err)
	}
}

// FuzzDHCPReply feeds arbitrary bytes, as the server socket would receive
// them from a guest, through the parser and the lease logic.
func FuzzDHCPReply(f *testing.F) {
	lt, err := NewLeaseTable(dhcpState(), "a")
	if err != nil {
		f.Fatal(err)
	}
	mac, _ := ParseMAC("02:49:00:01:00:02")
	d, _ := dhcpv4.NewDiscovery(mac)
	f.Add(d.ToBytes())
	r, _ := dhcpv4.NewRequestFromOffer(d)
	f.Add(r.ToBytes())
	f.Add([]byte{1, 1, 6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		reply, err := lt.Reply(req)
		if err != nil {
			return
		}
		if !reply.YourIPAddr.IsUnspecified() && !netA.CIDR.Contains(netip.AddrFrom4([4]byte(reply.YourIPAddr.To4()))) {
			t.Fatalf("offered %s outside the network", reply.YourIPAddr)
		}
		if _, err := dhcpv4.FromBytes(reply.ToBytes()); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
	})
}

// dhcpWorld adds guest g4 on network a with no address yet and starts the
// DHCP server of network a.
func dhcpWorld(t *testing.T) (*world, *peer) {
	w := newWorld(t)
	w.st.NICs = append(w.st.NICs, guestNIC("g4", netA, 4, "a-default"))
	g4 := w.addPeer(t, "v-g4", w.nic("g4").MAC, netip.Prefix{}, netip.Addr{})
	w.reconcile(t, w.st)
	srv, err := w.host.ServeDHCP(w.st, "a", t.Logf)
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	return w, g4
}

// dhcpExchange sends msg from the guest (source 0.0.0.0, broadcast, as a
// client without an address does, RFC 2131 section 4.1) and returns the
// server's answer with the same transaction ID.
func dhcpExchange(t *testing.T, g *peer, replies <-chan string, msg *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	sendRaw(t, g, ethFrame(broadcastMAC, g.mac, 0x0800,
		ipv4UDP(netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), 68, 67, msg.ToBytes())))
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case b := <-replies:
			m, err := dhcpv4.FromBytes([]byte(b))
			if err == nil && m.TransactionID == msg.TransactionID {
				return m
			}
		case <-timer.C:
			t.Fatalf("no answer to %s", msg.MessageType())
		}
	}
}

func TestGuestGetsLease(t *testing.T) {
	_, g4 := dhcpWorld(t)
	replies := udpSink(t, g4, "0.0.0.0:68")
	offer := dhcpExchange(t, g4, replies, discover(t, g4.mac))
	if offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %s", offer.Summary())
	}
	req, err := dhcpv4.NewRequestFromOffer(offer)
	must(t, err)
	ack := dhcpExchange(t, g4, replies, req)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(net.IPv4(10, 1, 0, 4)) ||
		!ack.ServerIdentifier().Equal(net.IPv4(10, 1, 0, 1)) {
		t.Fatalf("lease %s", ack.Summary())
	}
	if r := ack.ClasslessStaticRoute(); len(r) == 0 || r[0].Dest.IP.String() != "169.254.169.254" {
		t.Fatalf("no metadata route: %v", r)
	}
}

func TestDHCPStarvation(t *testing.T) {
	w, _ := dhcpWorld(t)
	replies := udpSink(t, w.g1, "0.0.0.0:68")
	zero, bcast := netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255")
	d := counterDelta(t, w.host, func() {
		for i := 0; i < 20; i++ {
			mac := make(net.HardwareAddr, 6)
			rand.Read(mac)
			mac[0] &^= 1
			msg := discover(t, mac).ToBytes()
			// Random chaddr from the guest's own MAC, and from a random one.
			sendRaw(t, w.g1, ethFrame(broadcastMAC, w.mac("g1"), 0x0800, ipv4UDP(zero, bcast, 68, 67, msg)))
			sendRaw(t, w.g1, ethFrame(broadcastMAC, mac, 0x0800, ipv4UDP(zero, bcast, 68, 67, msg)))
		}
		// The guest's own DISCOVER is answered; nothing was offered before it.
		own := discover(t, w.mac("g1"))
		sendRaw(t, w.g1, ethFrame(broadcastMAC, w.mac("g1"), 0x0800, ipv4UDP(zero, bcast, 68, 67, own.ToBytes())))
		timer := time.NewTimer(deadline)
		defer timer.Stop()
		for {
			select {
			case b := <-replies:
				m, err := dhcpv4.FromBytes([]byte(b))
				if err != nil {
					continue
				}
				if m.TransactionID != own.TransactionID {
					t.Fatalf("server answered a starvation DISCOVER: %s", m.Summary())
				}
				if !m.YourIPAddr.Equal(g1IP.AsSlice()) {
					t.Fatalf("own DISCOVER got %s", m.Summary())
				}
				return
			case <-timer.C:
				t.Fatal("own DISCOVER not answered")
			}
		}
	})
	checkDropped(t, d, CounterDHCPChaddr, 20)
	checkDropped(t, d, CounterSpoofMAC, 20)
}
