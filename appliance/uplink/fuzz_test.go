package uplink

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzFromACK parses arbitrary bytes as a DHCP message (they come from the
// network) and reads the configuration from it: no panic, and a result
// without error always carries a valid IPv4 address.
func FuzzFromACK(f *testing.F) {
	ack, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)), dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)))
	f.Add(ack.ToBytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		res, err := fromACK("eth0", m)
		if err == nil && (!res.Address.IsValid() || !res.Address.Addr().Is4()) {
			t.Fatalf("fromACK accepted %v", res)
		}
	})
}
