package boot

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/ironvisor/ironvisor/appliance/rackboot"
	"github.com/ironvisor/ironvisor/config"
)

// rackNet is the configured rack network (sanitised, so it parses).
func (a *appliance) rackNet() netip.Prefix {
	p, _ := config.ParseRackNet(a.cfg.Rack.Net)
	return p
}

// startRack starts rack bootstrap when ironvisor.rack=on: DHCP, TFTP and
// HTTP on the rack interface, with the control plane's registry of
// machines and this box's own boot artefacts ("rack"). Without a control
// plane there is no store for the leases, and it fails.
func (a *appliance) startRack() error {
	if a.plane == nil {
		return fmt.Errorf("no control plane: the leases need its store")
	}
	cmdline, err := os.ReadFile(a.cmdline)
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	arts := &rackboot.Artefacts{}
	if _, err := arts.Kernel(); err != nil {
		a.tl.Logf("rack: %v: machines cannot boot from this box", err)
	}
	s, err := rackboot.Start(rackboot.Options{Iface: a.cfg.Rack.Iface, Uplink: a.up.Iface, Registry: a.plane.Rack,
		Artefacts: arts, Cmdline: string(cmdline), Logf: a.tl.Logf})
	if err != nil {
		return err
	}
	a.rack = s
	a.tl.Logf("rack: serving DHCP, TFTP and HTTP on %s as %s", s.Iface, s.Addr)
	return nil
}

// rackLine is the banner's rack line, "" when rack bootstrap is off.
func (a *appliance) rackLine() string {
	if a.rack == nil {
		return ""
	}
	return fmt.Sprintf("  Rack     serving %s on %s (DHCP, TFTP, http://%s/)\n", a.rack.Addr, a.rack.Iface, a.rack.Addr.Addr())
}
