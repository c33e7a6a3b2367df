package netcfg

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Hand-built frames for the spoofing tests: the guest kernel would never
// send these, so the tests write them to an AF_PACKET socket.

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func ethFrame(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), src...), byte(typ>>8), byte(typ))
	return append(b, payload...)
}

// ipv4UDP builds an IPv4 header (RFC 791, no options) and a UDP header
// (RFC 768, checksum 0 = none) around payload.
func ipv4UDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	ip := make([]byte, 20, 20+len(udp))
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip))
	return append(ip, udp...)
}

// arpPacket builds an Ethernet/IPv4 ARP message (RFC 826).
func arpPacket(op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, byte(op >> 8), byte(op)}
	s, t := spa.As4(), tpa.As4()
	b = append(b, sha...)
	b = append(b, s[:]...)
	b = append(b, tha...)
	return append(b, t[:]...)
}

// sendRaw writes frame on the peer's interface through an AF_PACKET socket.
func sendRaw(t testing.TB, p *peer, frame []byte) {
	t.Helper()
	l, err := p.nl.LinkByName(p.ifc)
	must(t, err)
	must(t, in(p.ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6})
	}))
}

// udpSink listens on addr inside ns and delivers every datagram's payload.
func udpSink(t testing.TB, p *peer, addr string) <-chan string {
	t.Helper()
	var c net.PacketConn
	must(t, in(p.ns, func() (err error) { c, err = net.ListenPacket("udp4", addr); return err }))
	t.Cleanup(func() { c.Close() })
	out := make(chan string, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			out <- string(buf[:n])
		}
	}()
	return out
}

// expectUDP waits for want on c; expectNoUDP checks that nothing but a
// later control message arrives first.
func expectUDP(t testing.TB, c <-chan string, want string) {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case got := <-c:
			if got == want {
				return
			}
		case <-timer.C:
			t.Fatalf("datagram %q never arrived", want)
		}
	}
}

// expectOnly waits for the control datagram and fails if the forbidden one
// arrives before it. Frames on one path are delivered in order, so the
// control message sent after the forbidden one bounds the wait.
func expectOnly(t testing.TB, c <-chan string, forbidden, control string) {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case got := <-c:
			if got == forbidden {
				t.Fatalf("datagram %q was delivered", forbidden)
			}
			if got == control {
				return
			}
		case <-timer.C:
			t.Fatalf("control datagram %q never arrived", control)
		}
	}
}

// counterDelta runs fn and returns how much each counter grew.
func counterDelta(t testing.TB, h *Host, fn func()) map[string]uint64 {
	t.Helper()
	before, err := h.Counters()
	must(t, err)
	fn()
	after, err := h.Counters()
	must(t, err)
	d := map[string]uint64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}
