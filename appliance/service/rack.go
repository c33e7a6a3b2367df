package service

import (
	"net/netip"

	"github.com/ironvisor/ironvisor/config"
)

// rackNet is p, or config.DefaultRackNet when p is zero.
func rackNet(p netip.Prefix) netip.Prefix {
	if p.IsValid() {
		return p
	}
	d, _ := config.ParseRackNet("")
	return d
}
