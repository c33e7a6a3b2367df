// Package rackboot is rack bootstrap: one appliance (ironvisor.rack=on)
// serves the rack network it is wired to so that its siblings network-boot
// from it, with no other server in the rack. It runs:
//
//   - DHCP (insomniacslk's server4) bound to the rack interface, with
//     stable leases per MAC kept in the appliance's store (Registry), and
//     the PXE/iPXE boot options (DHCP.Reply);
//   - TFTP (pin/tftp), read-only, with the iPXE binaries for plain PXE
//     firmware;
//   - HTTP on port 80 of the rack address: each machine's iPXE script,
//     built from the configuration the admin API set for its MAC, and this
//     box's own kernel and initramfs (Artefacts).
//
// Everything a machine sends is untrusted: unknown MACs get a lease (up
// to a bound), malformed packets are dropped by the parsers, and nothing
// but the boot files can be read.
package rackboot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/pin/tftp/v3"
	"github.com/vishvananda/netlink"
)

// Options configure Start.
type Options struct {
	// Iface is the rack interface; "" means the first physical Ethernet
	// interface (one with a /sys/class/net/NAME/device) other than Uplink,
	// in interface index order.
	Iface string
	// Uplink is the uplink's interface, never taken as the rack's.
	Uplink string
	// Registry holds the machines; its Net is the box's address.
	Registry *Registry
	// Artefacts are what is served.
	Artefacts *Artefacts
	// Cmdline is this box's kernel command line (see Boot.Cmdline).
	Cmdline string
	// Logf receives what the servers have to say.
	Logf func(format string, args ...any)
}

// Server is the running rack bootstrap.
type Server struct {
	// Iface is the rack interface served.
	Iface string
	// Addr is the box's address on it.
	Addr netip.Prefix

	dhcp *server4.Server
	tftp *tftp.Server
	udp  net.PacketConn
	http *http.Server
}

// Start picks and configures the rack interface (up, with the box's
// address) and starts DHCP, TFTP and HTTP on it.
func Start(o Options) (*Server, error) {
	iface := o.Iface
	if iface == "" {
		var err error
		if iface, err = pickIface("/sys/class/net", o.Uplink); err != nil {
			return nil, err
		}
	}
	addr := o.Registry.Net()
	if err := configure(iface, addr); err != nil {
		return nil, err
	}
	s := &Server{Iface: iface, Addr: addr}
	base := fmt.Sprintf("http://%s:%d", addr.Addr(), HTTPPort)
	boot := &Boot{Base: base, Registry: o.Registry, Artefacts: o.Artefacts, Cmdline: o.Cmdline, Logf: o.Logf}
	ln, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", addr.Addr(), HTTPPort))
	if err != nil {
		return nil, fmt.Errorf("rack http: %w", err)
	}
	s.http = &http.Server{Handler: boot, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	s.tftp = newTFTP(o.Artefacts, o.Logf)
	if s.udp, err = serveTFTP(s.tftp, addr.Addr().AsSlice()); err != nil {
		s.Close()
		return nil, err
	}
	d := &DHCP{Server: addr, ScriptURL: boot.ScriptURL, Lease: func(mac string) (netip.Addr, error) {
		_, a, err := o.Registry.Lease(mac)
		return a, err
	}}
	if s.dhcp, err = serveDHCP(iface, d, o.Logf); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the servers.
func (s *Server) Close() error {
	var errs []error
	if s.dhcp != nil {
		errs = append(errs, s.dhcp.Close())
	}
	if s.tftp != nil {
		s.tftp.Shutdown()
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		errs = append(errs, s.http.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// pickIface returns the first physical Ethernet interface under sysNet
// (/sys/class/net) other than uplink, by interface index.
func pickIface(sysNet, uplink string) (string, error) {
	entries, err := os.ReadDir(sysNet)
	if err != nil {
		return "", fmt.Errorf("rack interface: %w", err)
	}
	type cand struct {
		name  string
		index int
	}
	var cs []cand
	for _, e := range entries {
		name := e.Name()
		if name == uplink {
			continue
		}
		if _, err := os.Stat(filepath.Join(sysNet, name, "device")); err != nil {
			continue // virtual: bridges, taps, veths, lo
		}
		b, err := os.ReadFile(filepath.Join(sysNet, name, "type"))
		if err != nil || string(b) != "1\n" { // ARPHRD_ETHER
			continue
		}
		var idx int
		if b, err := os.ReadFile(filepath.Join(sysNet, name, "ifindex")); err == nil {
			fmt.Sscan(string(b), &idx)
		}
		cs = append(cs, cand{name, idx})
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("rack interface: no Ethernet interface besides the uplink %q; name one with ironvisor.rack_iface", uplink)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].index < cs[j].index })
	return cs[0].name, nil
}

// configure brings iface up with the address addr.
func configure(iface string, addr netip.Prefix) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("rack interface %s: %w", iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("rack interface %s: up: %w", iface, err)
	}
	ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("rack interface %s: address %s: %w", iface, addr, err)
	}
	return nil
}
