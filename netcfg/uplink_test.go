package netcfg

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestStaticUplink(t *testing.T) {
	l := newLab(t)
	l.addPeer(t, "up0", "", netip.MustParsePrefix("192.0.2.2/24"), netip.Addr{})
	cfg := StaticConfig{
		Address: netip.MustParsePrefix("192.0.2.1/24"),
		Gateway: netip.MustParseAddr("192.0.2.2"),
		Routes:  []StaticRoute{{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.3")}},
		DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		Search:  []string{"example.test"},
	}
	ch, err := l.host.SetStatic("up0", cfg)
	must(t, err)
	if len(ch) == 0 {
		t.Fatal("nothing changed")
	}
	if err := ping(l.ns, netip.MustParseAddr("192.0.2.2")); err != nil {
		t.Fatalf("uplink not usable: %v", err)
	}
	up, err := l.nl.LinkByName("up0")
	must(t, err)
	routes, err := l.nl.RouteList(up, netlink.FAMILY_V4)
	must(t, err)
	var got []string
	for _, r := range routes {
		if r.Gw != nil {
			dst := "default"
			if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
				dst = r.Dst.String()
			}
			got = append(got, dst+" via "+r.Gw.String())
		}
	}
	if strings.Join(got, ",") != "default via 192.0.2.2,198.51.100.0/24 via 192.0.2.3" {
		t.Fatalf("routes %v", got)
	}
	// Changing the address replaces it; running again changes nothing.
	cfg.Address = netip.MustParsePrefix("192.0.2.9/24")
	_, err = l.host.SetStatic("up0", cfg)
	must(t, err)
	if ch, err := l.host.SetStatic("up0", cfg); err != nil || len(ch) != 0 {
		t.Fatalf("second run: %v %v", ch, err)
	}
	addrs, err := l.nl.AddrList(up, netlink.FAMILY_V4)
	must(t, err)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "192.0.2.9/24" {
		t.Fatalf("addresses %v", addrs)
	}
	path := filepath.Join(t.TempDir(), "resolv.conf")
	must(t, cfg.WriteResolvConf(path))
	b, err := os.ReadFile(path)
	must(t, err)
	if !strings.Contains(string(b), "nameserver 192.0.2.53\n") || !strings.Contains(string(b), "search example.test\n") {
		t.Fatalf("resolv.conf %q", b)
	}
}

func TestStaticConfigRejects(t *testing.T) {
	for _, c := range []StaticConfig{
		{},
		{Address: netip.MustParsePrefix("2001:db8::1/64")},
		{Address: netip.MustParsePrefix("192.0.2.1/24"), Search: []string{"a\nnameserver 1.2.3.4"}},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestVLANAndBond(t *testing.T) {
	l := newLab(t)
	l.addPeer(t, "nic0", "", netip.Prefix{}, netip.Addr{})
	l.addPeer(t, "nic1", "", netip.Prefix{}, netip.Addr{})
	l.addPeer(t, "nic2", "", netip.Prefix{}, netip.Addr{})
	if _, err := l.host.EnsureVLAN("nic0", 4095, "bad"); err == nil {
		t.Fatal("vlan 4095 accepted")
	}
	var skipped []string
	ch, err := l.host.EnsureVLAN("nic0", 42, "nic0.42")
	switch {
	case errors.Is(err, ErrUnsupported):
		skipped = append(skipped, "VLAN_8021Q")
	case err != nil:
		t.Fatal(err)
	default:
		if len(ch) == 0 {
			t.Fatal("vlan not created")
		}
		if ch, err := l.host.EnsureVLAN("nic0", 42, "nic0.42"); err != nil || len(ch) != 0 {
			t.Fatalf("vlan second run: %v %v", ch, err)
		}
	}
	ch, err = l.host.EnsureBond("bond0", []string{"nic1", "nic2"})
	switch {
	case errors.Is(err, ErrUnsupported):
		skipped = append(skipped, "BONDING")
	case err != nil:
		t.Fatal(err)
	default:
		if ch, err := l.host.EnsureBond("bond0", []string{"nic1", "nic2"}); err != nil || len(ch) != 0 {
			t.Fatalf("bond second run: %v %v", ch, err)
		}
	}
	if len(skipped) > 0 {
		t.Skipf("SKIP: kernel lacks %s (tested in the virtual rack, whose Debian kernel has them)", strings.Join(skipped, ", "))
	}
}
