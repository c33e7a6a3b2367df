package netcfg

import (
	"net"
	"net/netip"
	"testing"
)

func TestSameNetworkPingAndTCP(t *testing.T) {
	w := newWorld(t)
	listenTCP(t, w.g2.ns, "10.1.0.3:22")
	if err := ping(w.g1.ns, netip.MustParseAddr("10.1.0.3")); err != nil {
		t.Fatalf("g1 → g2 ping: %v", err)
	}
	if err := canTCP(w.g1.ns, "10.1.0.3:22"); err != nil {
		t.Fatalf("g1 → g2 tcp: %v", err)
	}
	if err := ping(w.g1.ns, netA.Gateway()); err != nil {
		t.Fatalf("g1 → gateway ping: %v", err)
	}
}

func TestReconcileIdempotent(t *testing.T) {
	w := newWorld(t)
	if ch := w.reconcile(t, w.st); len(ch) != 0 {
		t.Fatalf("second reconcile changed %v", ch)
	}
}

func TestRemovedNICDetached(t *testing.T) {
	w := newWorld(t)
	w.st.NICs = w.st.NICs[:1] // keep g1 only
	w.st.NICs = append(w.st.NICs, guestNIC("g3", netB, 2, "b-default"))
	ch := w.reconcile(t, w.st)
	t.Logf("changes: %v", ch)
	l, err := w.nl.LinkByName("v-g2")
	must(t, err)
	if l.Attrs().MasterIndex != 0 {
		t.Fatal("removed NIC's interface still on the bridge")
	}
	if ping(w.g2.ns, g1IP) == nil {
		t.Fatal("removed NIC still reaches the network")
	}
}

func TestDHCPManager(t *testing.T) {
	w := newWorld(t)
	w.st.NICs = append(w.st.NICs, guestNIC("g4", netA, 4, "a-default"), guestNIC("g6", netB, 6, "b-default"))
	g4 := w.addPeer(t, "v-g4", w.nic("g4").MAC, netip.Prefix{}, netip.Addr{})
	g6 := w.addPeer(t, "v-g6", w.nic("g6").MAC, netip.Prefix{}, netip.Addr{})
	w.reconcile(t, w.st)
	d := w.host.NewDHCP(t.Logf)
	defer d.Close()
	must(t, d.Update(w.st))
	r4, r6 := udpSink(t, g4, "0.0.0.0:68"), udpSink(t, g6, "0.0.0.0:68")
	if m := dhcpExchange(t, g4, r4, discover(t, g4.mac)); !m.YourIPAddr.Equal(net.IPv4(10, 1, 0, 4)) {
		t.Fatalf("g4 offered %s", m.Summary())
	}
	if m := dhcpExchange(t, g6, r6, discover(t, g6.mac)); !m.YourIPAddr.Equal(net.IPv4(10, 2, 0, 6)) {
		t.Fatalf("g6 offered %s", m.Summary())
	}
	// Network b goes away: its server stops; a's server keeps answering.
	w.st.Networks = w.st.Networks[:1]
	w.st.Groups = w.st.Groups[:1]
	w.st.NICs = []NIC{*w.nic("g1"), *w.nic("g2"), *w.nic("g4")}
	w.reconcile(t, w.st)
	must(t, d.Update(w.st))
	if m := dhcpExchange(t, g4, r4, discover(t, g4.mac)); m.MessageType().String() != "OFFER" {
		t.Fatalf("after update: %s", m.Summary())
	}
	d.mu.Lock()
	n := len(d.servers)
	d.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d servers running", n)
	}
}
