package uplink

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/ironvisor/ironvisor/config"
)

// rack is a test network: the client namespace (where the calling, locked
// thread now lives) holds veth "up0"; its peer "srv0" is in a second
// namespace with 198.18.7.1/24 and, optionally, a DHCP server.
type rack struct {
	client, server netns.NsHandle
}

// newRack moves the calling goroutine, locked to its thread for good (the
// thread is discarded when the test ends), into a fresh network namespace.
// It skips when not root or when namespaces cannot be made.
func newRack(t *testing.T) *rack {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to create network namespaces and veth pairs")
	}
	runtime.LockOSThread() // never unlocked: the thread's namespace changes
	orig, err := netns.Get()
	if err != nil {
		t.Skipf("SKIP: cannot read the network namespace: %v", err)
	}
	server, err := netns.New()
	if err != nil {
		t.Skipf("SKIP: cannot create a network namespace: %v", err)
	}
	client, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Set(orig); client.Close(); server.Close(); orig.Close() })
	must(t, netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up0"}, PeerName: "srv0"}))
	srv, err := netlink.LinkByName("srv0")
	must(t, err)
	must(t, netlink.LinkSetNsFd(srv, int(server)))
	r := &rack{client: client, server: server}
	r.inServer(t, func() {
		srv, err := netlink.LinkByName("srv0")
		must(t, err)
		a, _ := netlink.ParseAddr("198.18.7.1/24")
		must(t, netlink.AddrAdd(srv, a))
		must(t, netlink.LinkSetUp(srv))
	})
	return r
}

// inServer runs fn with the thread in the server namespace.
func (r *rack) inServer(t *testing.T, fn func()) {
	t.Helper()
	must(t, netns.Set(r.server))
	defer func() { must(t, netns.Set(r.client)) }()
	fn()
}

// serveDHCP starts a DHCP server on srv0 that offers 198.18.7.50/24 with
// router 198.18.7.1 and DNS 198.18.7.53 for leaseSecs. Every REQUEST it
// answers is sent on the returned channel (dropped when nobody listens).
func (r *rack) serveDHCP(t *testing.T, leaseSecs uint32) <-chan *dhcpv4.DHCPv4 {
	t.Helper()
	requests := make(chan *dhcpv4.DHCPv4, 16)
	handler := func(conn net.PacketConn, _ net.Addr, m *dhcpv4.DHCPv4) {
		var typ dhcpv4.MessageType
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
			select {
			case requests <- m:
			default:
			}
		default:
			return
		}
		reply, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.IPv4(198, 18, 7, 50)),
			dhcpv4.WithServerIP(net.IPv4(198, 18, 7, 1)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(198, 18, 7, 1))),
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithRouter(net.IPv4(198, 18, 7, 1)),
			dhcpv4.WithDNS(net.IPv4(198, 18, 7, 53)),
			dhcpv4.WithLeaseTime(leaseSecs))
		if err != nil {
			t.Errorf("build reply: %v", err)
			return
		}
		// RFC 2131 section 4.1: the client has no address yet, so broadcast.
		conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
	}
	var s *server4.Server
	r.inServer(t, func() {
		var err error
		s, err = server4.NewServer("srv0", &net.UDPAddr{Port: dhcpv4.ServerPort}, handler)
		must(t, err)
	})
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return requests
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkUplink asserts up0 has addr and a default route via gw.
func checkUplink(t *testing.T, addr, gw string) {
	t.Helper()
	l, err := netlink.LinkByName("up0")
	must(t, err)
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	must(t, err)
	if len(addrs) != 1 || addrs[0].IPNet.String() != addr {
		t.Errorf("up0 addresses = %v, want %s", addrs, addr)
	}
	routes, err := netlink.RouteList(l, netlink.FAMILY_V4)
	must(t, err)
	var found bool
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			found = r.Gw.String() == gw
		}
	}
	if !found {
		t.Errorf("no default route via %s in %v", gw, routes)
	}
}

func TestDHCPLeaseApplied(t *testing.T) {
	r := newRack(t)
	r.serveDHCP(t, 3600)
	must(t, Loopback())
	resolv := filepath.Join(t.TempDir(), "etc", "resolv.conf")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// No interface named: up0 is the only ethernet link, so it is chosen.
	res, err := Configure(ctx, config.Defaults(), Options{ResolvConf: resolv, Logf: t.Logf})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	want := Result{Iface: "up0", Source: "dhcp", Address: netip.MustParsePrefix("198.18.7.50/24"),
		Gateway: netip.MustParseAddr("198.18.7.1"), DNS: []netip.Addr{netip.MustParseAddr("198.18.7.53")}, Lease: time.Hour}
	if res.Iface != want.Iface || res.Address != want.Address || res.Gateway != want.Gateway || len(res.DNS) != 1 || res.DNS[0] != want.DNS[0] || res.Lease != want.Lease {
		t.Errorf("Configure = %+v, want %+v", res, want)
	}
	checkUplink(t, "198.18.7.50/24", "198.18.7.1")
	b, err := os.ReadFile(resolv)
	if err != nil || !strings.Contains(string(b), "nameserver 198.18.7.53\n") {
		t.Errorf("resolv.conf = %q, %v", b, err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo not up: %v", err)
	}
	Keep(canceled(), res, Options{})
}

func TestDHCPWithoutServerFails(t *testing.T) {
	newRack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := config.Defaults()
	cfg.Iface = "up0"
	_, err := Configure(ctx, cfg, Options{ResolvConf: filepath.Join(t.TempDir(), "r"), DHCPTimeout: 3 * time.Second, CarrierWait: time.Second})
	if err == nil || !strings.Contains(err.Error(), "dhcp on up0") {
		t.Errorf("Configure without a server: %v, want a dhcp error naming up0", err)
	}
}

func TestStaticUplink(t *testing.T) {
	newRack(t)
	cfg := config.Config{Uplink: "static", Address: "198.51.100.7/32", Gateway: "198.51.100.1", DNS: []string{"9.9.9.9"}, Iface: "up0"}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	res, err := Configure(context.Background(), cfg, Options{ResolvConf: resolv, CarrierWait: time.Second})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if res.Source != "static" || res.Address.String() != "198.51.100.7/32" {
		t.Errorf("Configure = %+v", res)
	}
	// The /32 puts the gateway outside the subnet: the route needs onlink.
	checkUplink(t, "198.51.100.7/32", "198.51.100.1")
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), "nameserver 9.9.9.9\n") {
		t.Errorf("resolv.conf = %q", b)
	}
}

func TestMissingInterface(t *testing.T) {
	newRack(t)
	cfg := config.Defaults()
	cfg.Iface = "nosuch0"
	if _, err := Configure(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("Configure on a missing interface: %v", err)
	}
}

func TestLeaseRenewedAtT1(t *testing.T) {
	r := newRack(t)
	requests := r.serveDHCP(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := config.Defaults()
	cfg.Iface = "up0"
	renewed := make(chan struct{}, 1)
	logf := func(f string, args ...any) {
		t.Logf(f, args...)
		if strings.HasPrefix(f, "uplink: lease on") {
			select {
			case renewed <- struct{}{}:
			default:
			}
		}
	}
	o := Options{ResolvConf: filepath.Join(t.TempDir(), "resolv.conf"), Logf: logf}
	res, err := Configure(ctx, cfg, o)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	first := <-requests
	if first.ClientIPAddr != nil && !first.ClientIPAddr.IsUnspecified() {
		t.Errorf("first REQUEST has ciaddr %v, want none (SELECTING)", first.ClientIPAddr)
	}
	// Keep runs on another goroutine, whose thread is in the host's
	// namespace: the renewed lease must still land on up0 (regression: it
	// once went to whichever host interface had up0's index).
	done := make(chan struct{})
	go func() { Keep(ctx, res, o); close(done) }()
	// RFC 2131 section 4.4.5: at T1 the client sends a REQUEST with ciaddr set.
	select {
	case m := <-requests:
		if !m.ClientIPAddr.Equal(net.IPv4(198, 18, 7, 50)) {
			t.Errorf("renewal REQUEST ciaddr = %v, want 198.18.7.50", m.ClientIPAddr)
		}
	case <-ctx.Done():
		t.Fatal("no renewal before the deadline")
	}
	select {
	case <-renewed:
	case <-ctx.Done():
		t.Fatal("renewal ACK not applied before the deadline")
	}
	cancel()
	<-done
	checkUplink(t, "198.18.7.50/24", "198.18.7.1")
}

func TestAutoSelectSkipsLinkWithoutCarrier(t *testing.T) {
	r := newRack(t)
	// up1's peer sits down in the server namespace, so up1 never gets
	// carrier; it is created after up0, so it has the higher index.
	must(t, netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up1"}, PeerName: "dead1"}))
	dead, err := netlink.LinkByName("dead1")
	must(t, err)
	must(t, netlink.LinkSetNsFd(dead, int(r.server)))
	r.serveDHCP(t, 3600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := Configure(ctx, config.Defaults(), Options{ResolvConf: filepath.Join(t.TempDir(), "r"),
		CarrierWait: time.Second, DHCPTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if res.Iface != "up0" {
		t.Errorf("chose %s, want up0 (the only link with carrier)", res.Iface)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v: DHCP was tried on the link without carrier", d)
	}
	Keep(canceled(), res, Options{})
}

// canceled returns a context that is already done, to make Keep release
// a Result's client at once.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
