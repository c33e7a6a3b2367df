package netcfg

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

var (
	g1IP = netip.MustParseAddr("10.1.0.2")
	g2IP = netip.MustParseAddr("10.1.0.3")
)

func (w *world) mac(inst string) net.HardwareAddr {
	m, _ := ParseMAC(w.nic(inst).MAC)
	return m
}

// udpFrame is a frame from g1 to g2's UDP port 9999.
func (w *world) udpFrame(src net.HardwareAddr, srcIP netip.Addr, sport uint16, msg string) []byte {
	return ethFrame(w.mac("g2"), src, 0x0800, ipv4UDP(srcIP, g2IP, sport, 9999, []byte(msg)))
}

func checkDropped(t *testing.T, d map[string]uint64, counter string, min uint64) {
	t.Helper()
	if d[counter] < min {
		t.Fatalf("counter %s grew by %d, want >= %d (all: %v)", counter, d[counter], min, d)
	}
}

func TestAntiSpoofSourceIP(t *testing.T) {
	w := newWorld(t)
	sink := udpSink(t, w.g2, "10.1.0.3:9999")
	d := counterDelta(t, w.host, func() {
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), netip.MustParseAddr("10.1.0.99"), 5000, "spoofed"))
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), g1IP, 5000, "good"))
		expectOnly(t, sink, "spoofed", "good")
	})
	checkDropped(t, d, CounterSpoofIP, 1)
}

func TestAntiSpoofMAC(t *testing.T) {
	w := newWorld(t)
	sink := udpSink(t, w.g2, "10.1.0.3:9999")
	d := counterDelta(t, w.host, func() {
		sendRaw(t, w.g1, w.udpFrame(net.HardwareAddr{2, 0, 0, 0, 0, 0x99}, g1IP, 5000, "spoofed"))
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), g1IP, 5000, "good"))
		expectOnly(t, sink, "spoofed", "good")
	})
	checkDropped(t, d, CounterSpoofMAC, 1)
}

func TestGratuitousARPForGateway(t *testing.T) {
	w := newWorld(t)
	gw := netA.Gateway()
	if err := ping(w.g2.ns, gw); err != nil { // g2 learns the gateway's MAC
		t.Fatal(err)
	}
	br, err := w.nl.LinkByName(netA.Bridge())
	must(t, err)
	sink := udpSink(t, w.g2, "10.1.0.3:9999")
	d := counterDelta(t, w.host, func() {
		// Gratuitous ARP announcing the gateway, broadcast, and an
		// unsolicited reply to g2: both claim 10.1.0.1 is at g1's MAC.
		sendRaw(t, w.g1, ethFrame(broadcastMAC, w.mac("g1"), 0x0806, arpPacket(1, w.mac("g1"), gw, make(net.HardwareAddr, 6), gw)))
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0806, arpPacket(2, w.mac("g1"), gw, w.mac("g2"), g2IP)))
		// And one with a forged sender MAC inside the ARP body only.
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0806, arpPacket(2, br.Attrs().HardwareAddr, gw, w.mac("g2"), g2IP)))
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), g1IP, 5000, "after-arp"))
		expectUDP(t, sink, "after-arp")
	})
	checkDropped(t, d, CounterSpoofARP, 3)
	neigh, err := w.g2.nl.NeighList(0, unix.AF_INET)
	must(t, err)
	for _, n := range neigh {
		if n.IP.Equal(gw.AsSlice()) && n.HardwareAddr != nil && !bytes.Equal(n.HardwareAddr, br.Attrs().HardwareAddr) {
			t.Fatalf("g2 now thinks the gateway is at %s", n.HardwareAddr)
		}
	}
	// A guest's own ARP still works: g1 resolves and pings g2.
	if err := ping(w.g1.ns, g2IP); err != nil {
		t.Fatalf("legitimate ARP broken: %v", err)
	}
}

func TestRogueDHCPOffer(t *testing.T) {
	w := newWorld(t)
	sink := udpSink(t, w.g2, "0.0.0.0:68")
	offer, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer), dhcpv4.WithYourIP(g2IP.AsSlice()),
		dhcpv4.WithRouter(g1IP.AsSlice()), dhcpv4.WithHwAddr(w.mac("g2")))
	must(t, err)
	offer.OpCode = dhcpv4.OpcodeBootReply
	rogue := offer.ToBytes()
	d := counterDelta(t, w.host, func() {
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0800, ipv4UDP(g1IP, g2IP, 67, 68, rogue)))
		sendRaw(t, w.g1, ethFrame(broadcastMAC, w.mac("g1"), 0x0800,
			ipv4UDP(g1IP, netip.MustParseAddr("255.255.255.255"), 67, 68, rogue)))
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0800, ipv4UDP(g1IP, g2IP, 1067, 68, []byte("control"))))
		expectOnly(t, sink, string(rogue), "control")
	})
	checkDropped(t, d, CounterRogueDHCP, 2)
}

func TestRouterAdvertisementDropped(t *testing.T) {
	w := newWorld(t)
	// ICMPv6 router advertisement (RFC 4861 4.2) in a minimal IPv6 header.
	ra := make([]byte, 40+16)
	ra[0], ra[6], ra[7] = 0x60, 58, 255
	ra[5] = 16
	ra[40] = 134
	ra[24], ra[39] = 0xff, 1 // dst ff02::1
	ra[24+1] = 2
	d := counterDelta(t, w.host, func() {
		sendRaw(t, w.g1, ethFrame(net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, w.mac("g1"), 0x86dd, ra))
		sink := udpSink(t, w.g2, "10.1.0.3:9999")
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), g1IP, 5000, "after-ra"))
		expectUDP(t, sink, "after-ra")
	})
	checkDropped(t, d, CounterRA, 1)
}

func TestMalformedFramesDropped(t *testing.T) {
	w := newWorld(t)
	sink := udpSink(t, w.g2, "10.1.0.3:9999")
	good := w.udpFrame(w.mac("g1"), g1IP, 5000, "good")
	d := counterDelta(t, w.host, func() {
		// A truncated ARP body, a truncated IPv4 header, and the good
		// datagram hidden behind an 802.1Q tag.
		arp := arpPacket(2, w.mac("g1"), g1IP, w.mac("g2"), g2IP)
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0806, arp[:10]))
		sendRaw(t, w.g1, ethFrame(w.mac("g2"), w.mac("g1"), 0x0800, []byte{0x45, 0, 0, 20, 0, 0}))
		tagged := append(append(append([]byte{}, good[:12]...), 0x81, 0x00, 0x00, 0x2a), good[12:]...)
		sendRaw(t, w.g1, tagged)
		sendRaw(t, w.g1, w.udpFrame(w.mac("g1"), g1IP, 5000, "control"))
		expectOnly(t, sink, "good", "control")
	})
	checkDropped(t, d, CounterOtherL2, 1)
	// Too short for the positive checks: each falls to its family's drop.
	if d[CounterSpoofARP]+d[CounterSpoofIP] < 2 {
		t.Fatalf("truncated frames not dropped: %v", d)
	}
}
