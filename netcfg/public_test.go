package netcfg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

func TestPortForwardRespectsGroup(t *testing.T) {
	w := newWorld(t)
	w.st.Groups = append(w.st.Groups, SecurityGroup{Name: "web", Tenant: "t1",
		Ingress: []Rule{{Proto: ProtoTCP, FromPort: 20, ToPort: 30, CIDR: netip.MustParsePrefix("192.0.2.0/24")}}})
	w.nic("g2").Groups = []string{"web"}
	w.st.Forwards = []PortForward{{Proto: ProtoTCP, PublicPort: 8080, Instance: "g2", Network: "a", Port: 22}}
	w.reconcile(t, w.st)
	listenTCP(t, w.g2.ns, "10.1.0.3:22")
	_, greet, err := dialGreet(w.out.ns, "192.0.2.1:8080")
	if err != nil {
		t.Fatalf("port forward: %v", err)
	}
	// The guest sees the real client address (DNAT only).
	if !strings.Contains(greet, "to 192.0.2.2:") {
		t.Fatalf("greeting %q", greet)
	}
	// The group no longer admits the client's network: the forward is closed.
	w.st.Groups[len(w.st.Groups)-1].Ingress[0].CIDR = netip.MustParsePrefix("198.51.100.0/24")
	w.reconcile(t, w.st)
	d := counterDelta(t, w.host, func() {
		if canTCP(w.out.ns, "192.0.2.1:8080") == nil {
			t.Error("forward ignored the security group")
		}
	})
	checkDropped(t, d, CounterSGIngress, 1)
}

func TestPublicIP(t *testing.T) {
	w := newWorld(t)
	pub := netip.MustParseAddr("192.0.2.50")
	w.st.PublicIPs = []PublicIP{{Address: pub, Instance: "g1", Network: "a"}}
	w.st.Groups[0].Ingress = append(w.st.Groups[0].Ingress, Rule{Proto: ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("192.0.2.2/32")})
	w.reconcile(t, w.st)
	if ch := w.reconcile(t, w.st); len(ch) != 0 {
		t.Fatalf("public IP not idempotent: %v", ch)
	}
	listenTCP(t, w.g1.ns, "10.1.0.2:22")
	listenTCP(t, w.g1.ns, "10.1.0.2:23")
	listenTCP(t, w.out.ns, "192.0.2.2:7000")
	if err := canTCP(w.out.ns, "192.0.2.50:22"); err != nil {
		t.Fatalf("public ip inbound: %v", err)
	}
	if canTCP(w.out.ns, "192.0.2.50:23") == nil {
		t.Fatal("public ip ignored the security group")
	}
	// Outbound from g1 leaves with its public address (1:1 SNAT) ...
	_, greet, err := dialGreet(w.g1.ns, "192.0.2.2:7000")
	if err != nil || !strings.Contains(greet, "to 192.0.2.50:") {
		t.Fatalf("public ip outbound: %q %v", greet, err)
	}
	// ... and g2 with the uplink address (masquerade).
	_, greet, err = dialGreet(w.g2.ns, "192.0.2.2:7000")
	if err != nil || !strings.Contains(greet, "to 192.0.2.1:") {
		t.Fatalf("masquerade: %q %v", greet, err)
	}
	// Dropping the public IP removes its uplink address.
	w.st.PublicIPs = nil
	w.reconcile(t, w.st)
	up, err := w.nl.LinkByName("up0")
	must(t, err)
	addrs, err := w.nl.AddrList(up, netlink.FAMILY_V4)
	must(t, err)
	for _, a := range addrs {
		if a.IP.Equal(pub.AsSlice()) {
			t.Fatal("public address left on the uplink")
		}
	}
}

func TestNATOut(t *testing.T) {
	w := newWorld(t)
	listenTCP(t, w.out.ns, "192.0.2.2:7000")
	_, greet, err := dialGreet(w.g3.ns, "192.0.2.2:7000")
	if err != nil {
		t.Fatalf("nat out: %v", err)
	}
	if !strings.Contains(greet, "to 192.0.2.1:") {
		t.Fatalf("not masqueraded: %q", greet)
	}
	// With NAT off, the internet has no route back: nothing gets through.
	w.st.Networks[1].NoNAT = true
	w.reconcile(t, w.st)
	if canTCP(w.g3.ns, "192.0.2.2:7000") == nil {
		t.Fatal("connection without NAT succeeded")
	}
}

func TestReconcileRemovesLeftovers(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("SKIP: no /dev/net/tun for taps: " + err.Error())
	}
	l := newLab(t)
	st := tapState()
	// Foreign objects: a link and an nftables table Reconcile must not touch.
	must(t, l.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "foreign0"}, PeerName: "foreign1"}))
	must(t, l.host.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyINet})
		return c.Flush()
	}))
	ch := l.reconcile(t, st)
	if len(ch) < 10 {
		t.Fatalf("first reconcile changed only %v", ch)
	}
	if ch := l.reconcile(t, st); len(ch) != 0 {
		t.Fatalf("second reconcile changed %v", ch)
	}
	for _, name := range []string{"ivtap-1-2", "ivtap-1-3", "ivtap-1-4", "ivtap-2-2"} {
		tap, err := l.nl.LinkByName(name)
		if err != nil || tap.Type() != "tuntap" {
			t.Fatalf("tap %s: %v", name, err)
		}
	}
	// The VMM's uid changes: the tap is recreated with the new owner, once.
	st.NICs[0].Owner = 1234
	if ch := l.reconcile(t, st); len(ch) < 2 {
		t.Fatalf("owner change: %v", ch)
	}
	if tap, err := l.nl.LinkByName("ivtap-1-2"); err != nil || tap.(*netlink.Tuntap).Owner != 1234 {
		t.Fatalf("tap owner: %+v %v", tap, err)
	}
	if ch := l.reconcile(t, st); len(ch) != 0 {
		t.Fatalf("after owner change: %v", ch)
	}
	simulateCrash(t, l)
	// The appliance restarts with a smaller state.
	small := st
	small.Networks = []Network{netA}
	small.Groups = st.Groups[:1]
	small.NICs = st.NICs[:2]
	ctx := context.Background()
	ch, err := l.host.Reconcile(ctx, small)
	must(t, err)
	t.Logf("after crash: %v", ch)
	checkLinks(t, l, []string{"ivtap-1-4", "ivtap-2-2", "ivbr-2", "ivbr-99", "ivtap-63-9"},
		[]string{"ivtap-1-2", "ivtap-1-3", "ivbr-1", "foreign0"})
	must(t, l.host.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		if _, err := c.ListTableOfFamily("other", nftables.TableFamilyINet); err != nil {
			t.Errorf("foreign table removed: %v", err)
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		for _, ch := range chains {
			if ch.Name == "junk" {
				t.Error("tampered chain survived")
			}
		}
		return err
	}))
	if ch := l.reconcile(t, small); len(ch) != 0 {
		t.Fatalf("reconcile after recovery changed %v", ch)
	}
	ch, err = l.host.Teardown(ctx, "")
	must(t, err)
	if ch2, _ := l.host.Teardown(ctx, ""); len(ch2) != 0 {
		t.Fatalf("second teardown changed %v", ch2)
	}
}

// simulateCrash leaves what a crashed appliance might: a stray tap and
// bridge with Ironvisor's prefixes, and a chain added to an own table.
func simulateCrash(t *testing.T, l *lab) {
	must(t, l.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ivbr-99"}}))
	must(t, l.host.Do(func() error {
		return l.nl.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "ivtap-63-9"}, Mode: netlink.TUNTAP_MODE_TAP})
	}))
	must(t, l.host.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		t := &nftables.Table{Name: tableNAT, Family: nftables.TableFamilyIPv4}
		c.AddChain(&nftables.Chain{Name: "junk", Table: t})
		return c.Flush()
	}))
}

// checkLinks checks that gone links are absent and kept links present.
func checkLinks(t *testing.T, l *lab, gone, kept []string) {
	t.Helper()
	links, err := l.nl.LinkList()
	must(t, err)
	var names []string
	for _, k := range links {
		names = append(names, k.Attrs().Name)
	}
	got := strings.Join(names, " ")
	for _, gone := range gone {
		if strings.Contains(got, gone) {
			t.Errorf("leftover %s still there: %s", gone, got)
		}
	}
	for _, kept := range kept {
		if !strings.Contains(got, kept) {
			t.Errorf("%s missing: %s", kept, got)
		}
	}
}

// tapState has four NICs on real taps: three on network a, one on b.
func tapState() State {
	st := State{Networks: []Network{netA, netB}, Groups: []SecurityGroup{{Name: "g", Tenant: "t1"}, {Name: "h", Tenant: "t2"}}}
	for i, inst := range []string{"i1", "i2", "i3"} {
		c := guestNIC(inst, netA, byte(2+i), "g")
		c.HostIfName = ""
		st.NICs = append(st.NICs, c)
	}
	c := guestNIC("i4", netB, 2, "h")
	c.HostIfName = ""
	return State{Networks: st.Networks, Groups: st.Groups, NICs: append(st.NICs, c)}
}

// TestForwardMatchesOnlyUplinkAddrs is finding 1 of the security review: with
// Uplink.Address unset (as the appliance and serve run it), tenant t1's
// forward of tcp/443 took the traffic for tenant t2's public IP on 443,
// because the forward matched any destination arriving on the uplink and
// came before the public IPs. Now the forward matches the uplink's own
// addresses, read from the kernel, and nothing else.
func TestForwardMatchesOnlyUplinkAddrs(t *testing.T) {
	w := newWorld(t)
	w.st.Uplink.Address = netip.Addr{}
	web := Rule{Proto: ProtoTCP, FromPort: 443, ToPort: 443, CIDR: netip.MustParsePrefix("192.0.2.0/24")}
	w.st.Groups[0].Ingress = append(w.st.Groups[0].Ingress, web)
	w.st.Groups[1].Ingress = append(w.st.Groups[1].Ingress, web)
	w.st.Forwards = []PortForward{{Proto: ProtoTCP, PublicPort: 443, Instance: "g2", Network: "a", Port: 443}}
	w.st.PublicIPs = []PublicIP{{Address: netip.MustParseAddr("192.0.2.50"), Instance: "g3", Network: "b"}}
	w.reconcile(t, w.st)
	if ch := w.reconcile(t, w.st); len(ch) != 0 {
		t.Fatalf("not idempotent: %v", ch)
	}
	listenTCP(t, w.g2.ns, "10.1.0.3:443")
	listenTCP(t, w.g3.ns, "10.2.0.2:443")
	// An address of the uplink that is no public IP: also forwarded.
	up, err := w.nl.LinkByName("up0")
	must(t, err)
	second := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 7), Mask: net.CIDRMask(24, 32)}}
	must(t, w.nl.AddrAdd(up, second))
	w.reconcile(t, w.st)
	for dst, want := range map[string]string{
		"192.0.2.1:443":  "hello from 10.1.0.3:443", // the uplink's address: t1's forward
		"192.0.2.7:443":  "hello from 10.1.0.3:443", // its second address: t1's forward
		"192.0.2.50:443": "hello from 10.2.0.2:443", // t2's public IP: t2's instance, never t1's
	} {
		c, greet, err := dialGreet(w.out.ns, dst)
		if err != nil {
			t.Fatalf("%s: %v", dst, err)
		}
		c.Close()
		if !strings.HasPrefix(greet, want) {
			t.Errorf("%s answered %q, want %q", dst, greet, want)
		}
	}
	// The address goes: the forward no longer matches it.
	must(t, w.nl.AddrDel(up, second))
	w.reconcile(t, w.st)
	if canTCP(w.out.ns, "192.0.2.7:443") == nil {
		t.Error("forward still matches a removed uplink address")
	}
}

// TestHostListener checks that HostListener finds the host's services from
// the kernel's socket table: TCP listeners and unconnected UDP sockets on
// the wildcard or a real address, not loopback-only ones or clients.
func TestHostListener(t *testing.T) {
	l := newLab(t)
	check := func(proto Proto, port uint16, want bool) {
		t.Helper()
		got, err := l.host.HostListener(proto, port)
		must(t, err)
		if (got != "") != want {
			t.Errorf("HostListener(%s, %d) = %q, want found=%v", proto, port, got, want)
		}
	}
	must(t, in(l.ns, func() error {
		lo, err := net.Listen("tcp4", "127.0.0.1:2201")
		if err != nil {
			return err
		}
		t.Cleanup(func() { lo.Close() })
		any, err := net.Listen("tcp", ":2202") // dual-stack wildcard
		if err != nil {
			return err
		}
		t.Cleanup(func() { any.Close() })
		u, err := net.ListenPacket("udp4", "0.0.0.0:2203")
		if err != nil {
			return err
		}
		t.Cleanup(func() { u.Close() })
		return nil
	}))
	check(ProtoTCP, 2201, false) // loopback only
	check(ProtoTCP, 2202, true)
	check(ProtoUDP, 2202, false)
	check(ProtoUDP, 2203, true)
	check(ProtoTCP, 2203, false)
	check(ProtoTCP, 2204, false)
	if _, err := l.host.HostListener("icmp", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("icmp: %v, want ErrInvalid", err)
	}
}
