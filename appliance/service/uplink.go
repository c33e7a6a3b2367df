package service

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/netcfg"
)

// DefaultUplink returns the interface of the host's IPv4 default route
// (main table), for Options.Uplink on a host whose network someone else
// configured.
func DefaultUplink() (netcfg.Uplink, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netcfg.Uplink{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			return netcfg.Uplink{}, fmt.Errorf("default route's link: %w", err)
		}
		return netcfg.Uplink{Name: l.Attrs().Name}, nil
	}
	return netcfg.Uplink{}, errors.New("no IPv4 default route")
}

// HostDNS returns the name servers of the resolv.conf files in paths (the
// first that has any) that guests can reach: loopback resolvers, such as
// systemd-resolved's 127.0.0.53, are left out, and then the next file is
// tried.
func HostDNS(paths ...string) []netip.Addr {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var out []netip.Addr
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] != "nameserver" {
				continue
			}
			a, err := netip.ParseAddr(fields[1])
			if err == nil && a.Is4() && !a.IsLoopback() && !a.IsUnspecified() {
				out = append(out, a)
			}
		}
		f.Close()
		if len(out) > 0 {
			return out
		}
	}
	return nil
}
