package config

import (
	"fmt"
	"net/netip"
)

// The kernel command-line keys of rack bootstrap.
const (
	KeyRack      = "ironvisor.rack"
	KeyRackIface = "ironvisor.rack_iface"
	KeyRackNet   = "ironvisor.rack_net"
)

// DefaultRackNet is the rack network's default: the bootstrap box takes
// 10.77.0.1 and leases the rest of 10.77.0.0/24 to the machines it boots.
const DefaultRackNet = "10.77.0.1/24"

// Rack is the rack bootstrap part of the configuration: whether this box
// serves DHCP, TFTP and HTTP on a rack network so that its siblings
// network-boot from it.
type Rack struct {
	// Enabled is ironvisor.rack=on|off / "rack": {"enabled": true}.
	// Off (the default) serves nothing.
	Enabled bool `json:"enabled,omitempty"`
	// Iface is ironvisor.rack_iface / "iface": the rack network's
	// interface. Empty means the first Ethernet interface that is not the
	// uplink, in the kernel's order.
	Iface string `json:"iface,omitempty"`
	// Net is ironvisor.rack_net / "net": the box's own address on the
	// rack network in CIDR form; the rest of the subnet is leased. Empty
	// means DefaultRackNet.
	Net string `json:"net,omitempty"`
}

// setRack assigns one of the rack keys; ok is false for other keys.
func (c *Config) setRack(key, value string) (ok bool, err error) {
	switch key {
	case KeyRack:
		switch value {
		case "on":
			c.Rack.Enabled = true
		case "off":
			c.Rack.Enabled = false
		default:
			return true, &FieldError{Key: key, Value: value, Reason: "must be on or off"}
		}
	case KeyRackIface:
		c.Rack.Iface = value
	case KeyRackNet:
		c.Rack.Net = value
	default:
		return false, nil
	}
	return true, nil
}

// ParseRackNet reads a rack network setting ("" is DefaultRackNet): the
// box's own address and the subnet, which must be IPv4 and leave room
// for at least one sibling.
func ParseRackNet(s string) (netip.Prefix, error) {
	if s == "" {
		s = DefaultRackNet
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("not an IPv4 address in CIDR form (e.g. %s)", DefaultRackNet)
	}
	if p.Bits() < 8 || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("the prefix length must be from 8 to 30")
	}
	if a := p.Addr(); a == p.Masked().Addr() || a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() {
		return netip.Prefix{}, fmt.Errorf("%s is not a host address of its subnet", a)
	}
	return p, nil
}

// validateRack reports the rack fields' errors through bad.
func (c Config) validateRack(bad func(key, value, reason string)) {
	if r := checkIface(c.Rack.Iface); r != "" {
		bad(KeyRackIface, c.Rack.Iface, r)
	}
	if _, err := ParseRackNet(c.Rack.Net); err != nil {
		bad(KeyRackNet, c.Rack.Net, err.Error())
	}
}

// sanitizeRack resets the rack field named by key to its default; an
// invalid rack setting turns rack bootstrap off rather than serving DHCP
// on a network the operator did not mean.
func (c *Config) sanitizeRack(key string) {
	switch key {
	case KeyRack, KeyRackIface, KeyRackNet:
		c.Rack = Rack{}
	}
}
