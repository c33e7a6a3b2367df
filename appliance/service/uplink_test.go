package service

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestHostDNS(t *testing.T) {
	dir := t.TempDir()
	resolved := filepath.Join(dir, "stub")
	os.WriteFile(resolved, []byte("# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0\n"), 0o644)
	real := filepath.Join(dir, "real")
	os.WriteFile(real, []byte("search example.org\nnameserver 192.0.2.53\nnameserver ::1\nnameserver 2001:db8::1\nnameserver bogus\nnameserver 198.51.100.7 # second\n"), 0o644)
	got := HostDNS(filepath.Join(dir, "missing"), resolved, real)
	want := []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("198.51.100.7")}
	if !slices.Equal(got, want) {
		t.Fatalf("HostDNS = %v, want %v (loopback-only files skipped, IPv4 only)", got, want)
	}
	if got := HostDNS(resolved); got != nil {
		t.Fatalf("only a loopback resolver: %v, want none", got)
	}
}

// TestDefaultUplink finds the default route's interface in a fresh network
// namespace, and reports a namespace without one.
func TestDefaultUplink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root for a network namespace")
	}
	done := make(chan struct{})
	var errs []string
	go func() {
		defer close(done)
		runtime.LockOSThread() // not unlocked: the thread dies in its own namespace
		if _, err := netns.New(); err != nil {
			errs = append(errs, err.Error())
			return
		}
		if u, err := DefaultUplink(); err == nil {
			errs = append(errs, "no default route, yet uplink "+u.Name)
		}
		d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wan7"}, PeerName: "wan7-peer"}
		steps := []func() error{
			func() error { return netlink.LinkAdd(d) },
			func() error { return netlink.LinkSetUp(d) },
			func() error { return netlink.LinkSetUp(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wan7-peer"}}) },
			func() error {
				return netlink.AddrAdd(d, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 10), Mask: net.CIDRMask(24, 32)}})
			},
			func() error {
				return netlink.RouteAdd(&netlink.Route{LinkIndex: d.Attrs().Index, Gw: net.IPv4(192, 0, 2, 1)})
			},
		}
		for _, s := range steps {
			if err := s(); err != nil {
				errs = append(errs, err.Error())
				return
			}
		}
		u, err := DefaultUplink()
		if err != nil || u.Name != "wan7" || u.Address.IsValid() {
			errs = append(errs, "uplink "+u.Name+", want wan7")
		}
	}()
	<-done
	if len(errs) > 0 {
		t.Fatal(errs)
	}
}
