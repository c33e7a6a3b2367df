package metadata

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/netcfg/netnstest"
)

// guestBehind puts a guest namespace behind a veth whose host end, hostIf
// in host, plays nic's tap: the guest has nic's MAC and address and a
// default route via gw.
func guestBehind(t *testing.T, host netns.NsHandle, hostIf string, nic netcfg.NIC, prefix int, gw netip.Addr) netns.NsHandle {
	t.Helper()
	guest := netnstest.New(t)
	hl, err := netlink.NewHandleAt(host, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Close()
	gl, err := netlink.NewHandleAt(guest, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	if err := hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostIf}, PeerName: "guest0"}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	peer, err := hl.LinkByName("guest0")
	if err == nil {
		err = hl.LinkSetNsFd(peer, int(guest))
	}
	if err == nil {
		peer, err = gl.LinkByName("guest0")
	}
	mac, _ := net.ParseMAC(nic.MAC)
	if err == nil {
		err = gl.LinkSetHardwareAddr(peer, mac)
	}
	if err == nil {
		err = gl.AddrAdd(peer, &netlink.Addr{IPNet: &net.IPNet{IP: nic.IP.AsSlice(), Mask: net.CIDRMask(prefix, 32)}})
	}
	if err == nil {
		err = gl.LinkSetUp(peer)
	}
	if err == nil {
		err = gl.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: gw.AsSlice()})
	}
	if err != nil {
		t.Fatalf("guest side: %v", err)
	}
	return guest
}

// loUp brings up ns's loopback, which the host's connections to its own
// addresses go through.
func loUp(ns netns.NsHandle) error {
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return err
	}
	return nl.LinkSetUp(lo)
}

// TestThroughRedirect runs the metadata server on the real kernel path: in
// a fresh namespace, netcfg's Reconcile builds a network whose one NIC is
// a veth to a guest namespace and redirects 169.254.169.254:80 to Port;
// the guest fetches its instance id and user data by the link-local
// address, and the host itself, whose connection carries no NIC's mark, is
// refused.
func TestThroughRedirect(t *testing.T) {
	hostNS := netnstest.New(t)
	h, err := netcfg.OpenAt(hostNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	web := netcfg.Network{Name: "web", Tenant: "t1", Index: 1, CIDR: netip.MustParsePrefix("10.9.0.0/24")}
	nic := web1
	nic.MAC = netcfg.MACFor(web, 2).String()
	nic.Groups = []string{"web-any"}
	nic.HostIfName = "v-web1"
	st := netcfg.State{
		Networks: []netcfg.Network{web},
		Groups:   []netcfg.SecurityGroup{{Name: "web-any", Tenant: "t1"}},
		NICs:     []netcfg.NIC{nic},
		Metadata: netcfg.MetadataTarget{Addr: netip.IPv4Unspecified(), Port: Port},
	}
	guest := guestBehind(t, hostNS, nic.HostIfName, nic, web.CIDR.Bits(), web.Gateway())
	if err := loUp(hostNS); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := h.Reconcile(ctx, st); err != nil {
		t.Fatal(err)
	}

	userData := "#!/bin/sh\necho from user data\n"
	s, err := New(Config{State: func() netcfg.State { return st }, Instance: instances{"i-web1": running("i-web1", userData)}.get})
	if err != nil {
		t.Fatal(err)
	}
	if err := netcfg.InNetNS(hostNS, func() error { return s.Bind(st, Port) }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	get := func(ns netns.NsHandle, url string) (int, string) {
		t.Helper()
		code, body, err := netnstest.Get(netnstest.HTTPClient(ns, 5*time.Second), url, time.Now().Add(15*time.Second))
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return code, body
	}
	if code, body := get(guest, "http://169.254.169.254/latest/meta-data/instance-id"); code != 200 || body != "i-web1" {
		t.Fatalf("guest's instance-id: %d %q", code, body)
	}
	if code, body := get(guest, "http://169.254.169.254/latest/user-data"); code != 200 || body != userData {
		t.Fatalf("guest's user-data: %d %q", code, body)
	}
	if code, _ := get(hostNS, "http://"+web.Gateway().String()+":8775/latest/user-data"); code != http.StatusForbidden {
		t.Fatalf("the host's own connection: %d, want 403", code)
	}
	// Bound to the bridge's gateway only: no other address of the host
	// answers on the port (issue 10, finding 11).
	err = netcfg.InNetNS(hostNS, func() error {
		c, err := net.DialTimeout("tcp4", "127.0.0.1:8775", 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Fatal("the metadata service listens on 127.0.0.1 too")
	}
	// A network that is gone loses its listener.
	if err := netcfg.InNetNS(hostNS, func() error { return s.Bind(netcfg.State{}, Port) }); err != nil {
		t.Fatal(err)
	}
	err = netcfg.InNetNS(hostNS, func() error {
		c, err := net.DialTimeout("tcp4", web.Gateway().String()+":8775", 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Fatal("the listener of a deleted network still answers")
	}
}
