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
