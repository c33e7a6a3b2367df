package rackboot

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// FuzzDHCPReply feeds the rack DHCP server arbitrary packets, as any
// machine on the rack network may send: parsing and answering never
// panic, and an answer goes only to an Ethernet client, with an address
// of the rack subnet other than the box's own.
func FuzzDHCPReply(f *testing.F) {
	seed, _ := dhcpv4.NewDiscovery([]byte{0x52, 0x54, 0, 0, 0, 1},
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
		dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	f.Add(seed.ToBytes())
	req, _ := dhcpv4.NewRequestFromOffer(seed)
	f.Add(req.ToBytes())
	f.Add([]byte{1, 1, 6, 0})
	rackNet := netip.MustParsePrefix("10.77.0.1/24")
	d := &DHCP{Server: rackNet, ScriptURL: func(mac string) string { return "http://10.77.0.1/rack/ipxe/" + mac },
		Lease: func(string) (netip.Addr, error) { return netip.MustParseAddr("10.77.0.2"), nil }}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		rep, err := d.Reply(m)
		if err != nil {
			if !errors.Is(err, errIgnore) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if m.HWType != iana.HWTypeEthernet || len(m.ClientHWAddr) != 6 {
			t.Fatalf("answered hardware type %v", m.HWType)
		}
		if rep.MessageType() != dhcpv4.MessageTypeNak {
			a, ok := netip.AddrFromSlice(rep.YourIPAddr.To4())
			if !ok || !rackNet.Contains(a) || a == rackNet.Addr() {
				t.Fatalf("handed out %v", rep.YourIPAddr)
			}
		}
		rep.ToBytes()
	})
}
