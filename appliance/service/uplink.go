package service

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/netcfg"
)

// DefaultUplink returns the interface of the host's IPv4 default route
// (main table), for Options.Uplink on a host whose network someone else
// configured.
func DefaultUplink() (netcfg.Uplink, error) {
	r, err := defaultRoute()
	if err != nil {
		return netcfg.Uplink{}, err
	}
	l, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return netcfg.Uplink{}, fmt.Errorf("default route's link: %w", err)
	}
	return netcfg.Uplink{Name: l.Attrs().Name}, nil
}

// defaultRoute returns the host's IPv4 default route (main table).
func defaultRoute() (netlink.Route, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netlink.Route{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		return r, nil
	}
	return netlink.Route{}, errors.New("no IPv4 default route")
}

// UplinkSubnets returns the IPv4 subnets of the addresses on interface
// name: the management network, which guests may not reach by default.
// The public IPs in pool are left out: they are instances' addresses,
// which the host network puts on the uplink (and a killed appliance may
// have left there), not the host's.
func UplinkSubnets(name string, pool []netip.Addr) ([]netip.Prefix, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: %w", name, err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("uplink %s addresses: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok && !ip.IsLinkLocalUnicast() && !slices.Contains(pool, ip) {
			out = append(out, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	return out, nil
}

// hostNets returns the host's own networks, which no tenant network may
// overlap: the uplink's subnets and the default gateway (read from the
// kernel), the name servers and the public IP pool. What cannot be read
// is reported on tl and left out.
func hostNets(tl *timeline.Timeline, o Options) []netip.Prefix {
	var out []netip.Prefix
	if o.Uplink.Name != "" {
		nets, err := UplinkSubnets(o.Uplink.Name, o.PublicIPs)
		if err != nil {
			tl.Fail("host-networks", err)
		}
		out = append(out, nets...)
	}
	if gw, ok := defaultGateway(); ok {
		out = append(out, netip.PrefixFrom(gw, 32))
	}
	for _, a := range append(append([]netip.Addr(nil), o.DNSServers...), o.PublicIPs...) {
		if a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	return out
}

// defaultGateway returns the next hop of the IPv4 default route (main
// table), if there is one.
func defaultGateway() (netip.Addr, bool) {
	r, err := defaultRoute()
	if err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFromSlice(r.Gw.To4())
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
