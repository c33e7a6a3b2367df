package uplink

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/ironvisor/ironvisor/config"
)

// configureDHCP obtains a lease on l and applies it. DNS servers from cfg,
// when given, replace the lease's.
//
// RFC 2131 section 3.1: the client broadcasts DHCPDISCOVER, chooses a
// DHCPOFFER, broadcasts DHCPREQUEST for it and configures itself from the
// DHCPACK (yiaddr, option 1 subnet mask, option 3 router, option 6 DNS,
// option 51 lease time). nclient4 does the exchange with retransmissions.
func configureDHCP(ctx context.Context, h *netlink.Handle, l netlink.Link, cfg config.Config, o Options) (Result, error) {
	name := l.Attrs().Name
	ctx, cancel := context.WithTimeout(ctx, o.DHCPTimeout)
	defer cancel()
	client, err := nclient4.New(name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(4))
	if err != nil {
		return Result{}, fmt.Errorf("dhcp on %s: %w", name, err)
	}
	lease, err := client.Request(ctx)
	if err != nil {
		client.Close()
		return Result{}, fmt.Errorf("dhcp on %s: %w", name, err)
	}
	res, err := applyLease(h, l, lease, cfg, o)
	if err != nil {
		client.Close()
		return res, err
	}
	res.dhcp = &dhcpState{client: client, lease: lease, nl: h, link: l, cfg: cfg}
	return res, nil
}

// applyLease reads a lease's configuration and applies it to l.
func applyLease(h *netlink.Handle, l netlink.Link, lease *nclient4.Lease, cfg config.Config, o Options) (Result, error) {
	name := l.Attrs().Name
	res, err := fromACK(name, lease.ACK)
	if err != nil {
		return res, fmt.Errorf("dhcp on %s: %w", name, err)
	}
	if len(cfg.DNS) > 0 {
		res.DNS = res.DNS[:0]
		for _, d := range cfg.DNS {
			if a, err := netip.ParseAddr(d); err == nil {
				res.DNS = append(res.DNS, a)
			}
		}
	}
	return res, apply(h, l, res, o)
}

// fromACK reads the configuration a DHCPACK carries. A missing subnet mask
// falls back to the address's classful mask, as RFC 2131 section 4.3.1
// leaves it to the client.
func fromACK(iface string, ack *dhcpv4.DHCPv4) (Result, error) {
	res := Result{Iface: iface, Source: config.UplinkDHCP}
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return res, fmt.Errorf("ack without an address (yiaddr %v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.IP(ip.AsSlice()).DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return res, fmt.Errorf("ack with a non-contiguous subnet mask %v", net.IP(mask))
	}
	res.Address = netip.PrefixFrom(ip, ones)
	if routers := ack.Router(); len(routers) > 0 {
		if gw, ok := netip.AddrFromSlice(routers[0].To4()); ok && !gw.IsUnspecified() {
			res.Gateway = gw
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			res.DNS = append(res.DNS, a)
		}
	}
	res.Lease = ack.IPAddressLeaseTime(0)
	return res, nil
}
