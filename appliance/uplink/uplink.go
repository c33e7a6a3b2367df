// Package uplink gives the appliance its management address: it brings up
// loopback, chooses the uplink interface, and either runs a DHCP client
// (RFC 2131, insomniacslk/dhcp nclient4) or applies a static address. It
// applies the address and default route with netlink and writes
// /etc/resolv.conf. Bridges, isolation and guest networking live in netcfg.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/durable"
	"github.com/ironvisor/ironvisor/config"
)

// Options tunes Configure. Zero values mean the defaults given per field.
type Options struct {
	// ResolvConf is the file name servers are written to; "" means
	// /etc/resolv.conf.
	ResolvConf string
	// CarrierWait bounds the wait for link carrier; 0 means 5 s.
	CarrierWait time.Duration
	// DHCPTimeout bounds the whole DHCP exchange on one interface; 0 means 20 s.
	DHCPTimeout time.Duration
	// Logf prints progress; nil means silent.
	Logf func(format string, args ...any)
}

// Result describes the configured uplink.
type Result struct {
	Iface   string        // interface name
	Source  string        // config.UplinkDHCP or config.UplinkStatic
	Address netip.Prefix  // the address and its prefix length
	Gateway netip.Addr    // default route; invalid when there is none
	DNS     []netip.Addr  // name servers written to resolv.conf
	Lease   time.Duration // DHCP lease time; 0 for static

	dhcp *dhcpState // the DHCP client and lease, for Keep; nil for static
}

// withDefaults fills Options' zero values.
func (o Options) withDefaults() Options {
	if o.ResolvConf == "" {
		o.ResolvConf = "/etc/resolv.conf"
	}
	if o.CarrierWait == 0 {
		o.CarrierWait = 5 * time.Second
	}
	if o.DHCPTimeout == 0 {
		o.DHCPTimeout = 20 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Loopback brings lo up; the kernel then adds 127.0.0.1/8 and ::1 itself.
func Loopback() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Configure brings the uplink up as cfg says and returns what it did. With
// cfg.Iface empty it tries the ethernet interfaces with carrier (all of
// them if none has carrier), in index order, and keeps the first that gets
// a DHCP lease (or, for a static uplink, the first one).
//
// All netlink work goes through one handle opened here, so it stays in the
// calling thread's network namespace even when Keep later runs elsewhere.
func Configure(ctx context.Context, cfg config.Config, o Options) (Result, error) {
	o = o.withDefaults()
	// Only NETLINK_ROUTE: with no family, NewHandle also opens XFRM and
	// netfilter sockets, which fail on a kernel without those modules.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return Result{}, fmt.Errorf("open netlink: %w", err)
	}
	res, err := configure(ctx, h, cfg, o)
	if res.dhcp == nil {
		h.Close() // a DHCP lease keeps it for Keep
	}
	return res, err
}

// configure does Configure's work through h.
func configure(ctx context.Context, h *netlink.Handle, cfg config.Config, o Options) (Result, error) {
	links, err := candidates(h, cfg.Iface)
	if err != nil {
		return Result{}, err
	}
	for _, l := range links {
		if err := h.LinkSetUp(l); err != nil {
			return Result{}, fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
		}
	}
	links = byCarrier(ctx, h, links, o.CarrierWait)
	if cfg.Uplink == config.UplinkStatic {
		return configureStatic(h, links[0], cfg, o)
	}
	var errs []error
	for _, l := range links {
		res, err := configureDHCP(ctx, h, l, cfg, o)
		if err == nil {
			return res, nil
		}
		o.Logf("uplink: %v", err)
		errs = append(errs, err)
	}
	return Result{}, errors.Join(errs...)
}

// candidates returns the named link, or every ethernet link ("device" for
// real and virtio NICs, "veth" for containers) ordered by index.
func candidates(h *netlink.Handle, name string) ([]netlink.Link, error) {
	if name != "" {
		l, err := h.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("find uplink %s: %w", name, err)
		}
		return []netlink.Link{l}, nil
	}
	all, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range all {
		a := l.Attrs()
		if a.EncapType == "ether" && (l.Type() == "device" || l.Type() == "veth") && a.Flags&net.FlagLoopback == 0 {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no ethernet interface found")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attrs().Index < out[j].Attrs().Index })
	return out, nil
}

// hasCarrier reports whether the link is up with carrier (IFF_RUNNING).
func hasCarrier(h *netlink.Handle, l netlink.Link) bool {
	fresh, err := h.LinkByIndex(l.Attrs().Index)
	return err == nil && fresh.Attrs().RawFlags&unix.IFF_RUNNING != 0
}

// byCarrier waits up to wait for every link to get carrier and returns the
// links that have it, or, if none does by then, all of them: a NIC without
// carrier is not worth a DHCP timeout while another one has a cable.
func byCarrier(ctx context.Context, h *netlink.Handle, links []netlink.Link, wait time.Duration) []netlink.Link {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var up []netlink.Link
		for _, l := range links {
			if hasCarrier(h, l) {
				up = append(up, l)
			}
		}
		if len(up) == len(links) || time.Now().After(deadline) || ctx.Err() != nil {
			if len(up) == 0 {
				return links
			}
			return up
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// configureStatic applies cfg's address, gateway and DNS to l.
func configureStatic(h *netlink.Handle, l netlink.Link, cfg config.Config, o Options) (Result, error) {
	res := Result{Iface: l.Attrs().Name, Source: config.UplinkStatic}
	var err error
	if res.Address, err = netip.ParsePrefix(cfg.Address); err != nil {
		return res, fmt.Errorf("static address: %w", err)
	}
	if cfg.Gateway != "" {
		if res.Gateway, err = netip.ParseAddr(cfg.Gateway); err != nil {
			return res, fmt.Errorf("static gateway: %w", err)
		}
	}
	for _, d := range cfg.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return res, fmt.Errorf("static dns: %w", err)
		}
		res.DNS = append(res.DNS, a)
	}
	return res, apply(h, l, res, o)
}

// apply sets the address and default route on l and writes resolv.conf.
func apply(h *netlink.Handle, l netlink.Link, res Result, o Options) error {
	name := l.Attrs().Name
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: res.Address.Addr().AsSlice(), Mask: net.CIDRMask(res.Address.Bits(), res.Address.Addr().BitLen())}}
	if err := h.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("add %s to %s: %w", res.Address, name, err)
	}
	if res.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: res.Gateway.AsSlice()}
		if !res.Address.Masked().Contains(res.Gateway) {
			route.Flags = int(netlink.FLAG_ONLINK) // a gateway outside the subnet, e.g. with a /32
		}
		if err := h.RouteReplace(route); err != nil {
			return fmt.Errorf("default route via %s on %s: %w", res.Gateway, name, err)
		}
	}
	if len(res.DNS) > 0 {
		if err := WriteResolvConf(o.ResolvConf, res.DNS); err != nil {
			return err
		}
	}
	o.Logf("uplink: %s %s gateway %v dns %v (%s)", name, res.Address, res.Gateway, res.DNS, res.Source)
	return nil
}

// WriteResolvConf atomically replaces path with one nameserver line per
// server, creating its directory if needed.
func WriteResolvConf(path string, servers []netip.Addr) error {
	var b strings.Builder
	b.WriteString("# written by ironvisor\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := durable.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
