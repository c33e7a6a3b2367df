package rackboot

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"
)

// LeaseTime is the lease time handed out. Leases are stable per MAC, so
// it only bounds how long a machine keeps a stale configuration.
const LeaseTime = time.Hour

// The iPXE binaries handed to plain PXE firmware over TFTP, by client
// architecture (RFC 4578 option 93): BIOS firmware gets the UNDI-chained
// build, UEFI x86-64 firmware the EFI build.
const (
	IPXEBIOS = "undionly.kpxe"
	IPXEEFI  = "ipxe.efi"
)

// errIgnore marks requests the server drops silently: not ours to answer.
var errIgnore = errors.New("rack dhcp: ignored")

// DHCP answers DHCP on the rack network (RFC 2131), with the PXE options
// of RFC 4578 and the iPXE convention: plain PXE firmware (vendor class
// "PXEClient") gets an iPXE binary over TFTP from this box (siaddr and
// file, RFC 2132 options 66/67), and iPXE itself (user class "iPXE",
// RFC 3004 option 77) gets the HTTP URL of its boot script, so that the
// second round boots the kernel over HTTP.
type DHCP struct {
	// Server is the box's own address on the rack network.
	Server netip.Prefix
	// ScriptURL returns the boot script's URL for a MAC.
	ScriptURL func(mac string) string
	// Lease gives a MAC (lower case, colons) its stable address.
	Lease func(mac string) (netip.Addr, error)
}

// Reply builds the answer to a client message: an OFFER for a DISCOVER,
// an ACK for a REQUEST of the client's own lease and a NAK for any other
// address; a REQUEST that names another server, other message types and
// non-Ethernet hardware get no answer (errIgnore).
func (d *DHCP) Reply(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, errIgnore
	}
	me := d.Server.Addr().AsSlice()
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(me) {
			return nil, errIgnore // the client took another server's offer
		}
		typ = dhcpv4.MessageTypeAck
	default:
		return nil, errIgnore
	}
	ip, err := d.Lease(req.ClientHWAddr.String())
	if err != nil {
		return nil, fmt.Errorf("lease for %s: %w", req.ClientHWAddr, err)
	}
	if typ == dhcpv4.MessageTypeAck {
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		if want != nil && !want.IsUnspecified() && !want.Equal(ip.AsSlice()) {
			return dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(me)))
		}
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(ip.AsSlice()),
		dhcpv4.WithServerIP(me),
		dhcpv4.WithNetmask(net.CIDRMask(d.Server.Bits(), 32)),
		dhcpv4.WithLeaseTime(uint32(LeaseTime / time.Second)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(me)),
	}
	return dhcpv4.NewReplyFromRequest(req, append(mods, d.bootOptions(req)...)...)
}

// bootOptions are the boot file options for a PXE or iPXE client; none
// for others (the appliance's own DHCP client on a booted machine).
func (d *DHCP) bootOptions(req *dhcpv4.DHCPv4) []dhcpv4.Modifier {
	if isIPXE(req) {
		url := d.ScriptURL(req.ClientHWAddr.String())
		return []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptBootFileName(url))}
	}
	if !strings.HasPrefix(req.ClassIdentifier(), "PXEClient") {
		return nil
	}
	file := IPXEBIOS
	for _, a := range req.ClientArch() {
		if a == iana.EFI_X86_64 || a == iana.EFI_BC || a == iana.EFI_X86_64_HTTP {
			file = IPXEEFI
		}
	}
	return []dhcpv4.Modifier{
		// RFC 4578 section 2.1: a PXE server names itself in option 60.
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
		dhcpv4.WithOption(dhcpv4.OptTFTPServerName(d.Server.Addr().String())),
		dhcpv4.WithOption(dhcpv4.OptBootFileName(file)),
	}
}

// isIPXE reports a request from iPXE itself: user class "iPXE".
func isIPXE(req *dhcpv4.DHCPv4) bool {
	for _, c := range req.UserClass() {
		if c == "iPXE" {
			return true
		}
	}
	return false
}

// serveDHCP starts d on the interface iface (SO_BINDTODEVICE: it never
// answers on another one). Close the returned server to stop it.
func serveDHCP(iface string, d *DHCP, logf func(string, ...any)) (*server4.Server, error) {
	handle := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		reply, err := d.Reply(m)
		if errors.Is(err, errIgnore) {
			return
		}
		if err == nil {
			_, err = conn.WriteTo(reply.ToBytes(), peer)
		}
		if err != nil {
			logf("rack dhcp: %s: %v", m.ClientHWAddr, err)
		}
	}
	srv, err := server4.NewServer(iface, nil, handle)
	if err != nil {
		return nil, fmt.Errorf("rack dhcp on %s: %w", iface, err)
	}
	go srv.Serve()
	return srv, nil
}
