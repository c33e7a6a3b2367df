package service

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestUplinkSubnetsLeaveOutPool: a public IP of the pool that a killed
// appliance left on the uplink is no management network (a regression:
// the next start blocked guests from it and named it in a rule after the
// public IP was gone, found by the kill -9 loop).
func TestUplinkSubnetsLeaveOutPool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root for a network namespace")
	}
	pool := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	var got []netip.Prefix
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // not unlocked: the thread dies in its own namespace
		if _, err = netns.New(); err != nil {
			return
		}
		up := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up0"}, PeerName: "up0p"}
		if err = netlink.LinkAdd(up); err != nil {
			return
		}
		for _, a := range []string{"192.0.2.1/24", "192.0.2.10/32", "198.51.100.7/32"} {
			addr, _ := netlink.ParseAddr(a)
			if err = netlink.AddrAdd(up, addr); err != nil {
				return
			}
		}
		got, err = UplinkSubnets("up0", pool)
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32")}
	if slices.SortFunc(got, netip.Prefix.Compare); !slices.Equal(got, want) {
		t.Fatalf("uplink subnets %v, want %v", got, want)
	}
}
