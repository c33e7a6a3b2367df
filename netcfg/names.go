package netcfg

import (
	"fmt"
	"net/netip"
)

// Name prefixes of the links Reconcile owns. Links with these prefixes that
// are not in the desired state are deleted; all other links are left alone.
const (
	BridgePrefix = "ivbr-"
	TapPrefix    = "ivtap-"
	// uplinkLabelSuffix labels the public IP addresses Reconcile adds to the
	// uplink, so that it can find and remove its own.
	uplinkLabelSuffix = ":iv"
)

// markFlag is set in every NIC mark, so a mark of 0 (or any foreign mark
// without it) never names a NIC.
const markFlag = 1 << 31

// hostOffset returns ip's host number within network n, refusing the
// network address, the gateway and the broadcast address.
func hostOffset(n *Network, ip netip.Addr) (uint32, error) {
	if !ip.Is4() || !n.CIDR.Contains(ip) {
		return 0, fmt.Errorf("ip %s not in %s", ip, n.CIDR)
	}
	off := be32(ip) - be32(n.CIDR.Masked().Addr())
	last := uint32(1)<<(32-n.CIDR.Bits()) - 1
	if off <= 1 || off >= last {
		return 0, fmt.Errorf("ip %s is the network, gateway or broadcast address of %s", ip, n.CIDR)
	}
	return off, nil
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrFrom32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// tapName returns the host interface of the NIC on network n: HostIfName if
// set, else ivtap-<index hex>-<host offset hex> (at most 15 bytes).
func (c *NIC) tapName(n *Network) string {
	if c.HostIfName != "" {
		return c.HostIfName
	}
	off, _ := hostOffset(n, c.IP)
	return fmt.Sprintf("%s%x-%x", TapPrefix, n.Index, off)
}

// Mark returns the packet mark that identifies traffic entering the host
// from this NIC: bit 31 set, the network index in bits 16-30 and the host
// offset in bits 0-15. The bridge-family chain of the NIC's tap sets it on
// every frame from the tap, so it names the ingress tap, not the source IP.
func (c *NIC) Mark(n *Network) uint32 {
	off, _ := hostOffset(n, c.IP)
	return markFlag | uint32(n.Index)<<16 | off&0xffff
}

// TapName returns the host interface name of the instance's NIC on the
// network, or "" if there is no such NIC.
func (s *State) TapName(instance, network string) string {
	for i := range s.NICs {
		c := &s.NICs[i]
		if c.Instance == instance && c.Network == network {
			for j := range s.Networks {
				if s.Networks[j].Name == network {
					return c.tapName(&s.Networks[j])
				}
			}
		}
	}
	return ""
}
