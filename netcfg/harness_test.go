package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lab is a throwaway "host" network namespace with a Host on it, plus
// guest and outside namespaces joined to it by veths.
type lab struct {
	t    *testing.T
	ns   netns.NsHandle
	nl   *netlink.Handle
	host *Host
}

// deadline bounds every wait in these tests.
const deadline = 5 * time.Second

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root for network namespaces")
	}
}

// newNS creates an anonymous network namespace that disappears when the
// test ends (its only reference is the handle closed by Cleanup).
func newNS(t testing.TB) netns.NsHandle {
	t.Helper()
	type res struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			c <- res{err: err}
			return
		}
		ns, err := netns.New()
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		orig.Close()
		c <- res{ns, err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatalf("new netns: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	// Loopback up, for listeners on 127.0.0.1 and redirects.
	nl := nlAt(t, r.ns)
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("lo up: %v", err)
	}
	return r.ns
}

func nlAt(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func newLab(t testing.TB) *lab {
	needRoot(t)
	ns := newNS(t)
	h, err := OpenAt(ns)
	if err != nil {
		t.Fatalf("open host: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	tt, _ := t.(*testing.T)
	return &lab{t: tt, ns: ns, nl: nlAt(t, ns), host: h}
}

// peer is a namespace joined to the lab host by a veth.
type peer struct {
	ns  netns.NsHandle
	nl  *netlink.Handle
	ifc string // interface name inside ns
	mac net.HardwareAddr
	ip  netip.Prefix
}

// addPeer creates a veth pair: hostIf in the lab namespace, "eth0" in a
// new namespace with the given MAC and address (invalid prefix: none),
// default route via gw (if valid).
func (l *lab) addPeer(t testing.TB, hostIf, mac string, ip netip.Prefix, gw netip.Addr) *peer {
	t.Helper()
	ns := newNS(t)
	p := &peer{ns: ns, nl: nlAt(t, ns), ifc: "eth0", ip: ip}
	tmp := fmt.Sprintf("p%d", time.Now().UnixNano()%1e9)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostIf}, PeerName: tmp}
	if err := l.nl.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s: %v", hostIf, err)
	}
	pl, err := l.nl.LinkByName(tmp)
	if err == nil {
		err = l.nl.LinkSetNsFd(pl, int(ns))
	}
	if err != nil {
		t.Fatalf("move veth peer: %v", err)
	}
	gl, err := p.nl.LinkByName(tmp)
	must(t, err)
	must(t, p.nl.LinkSetName(gl, p.ifc))
	if mac != "" {
		p.mac, err = net.ParseMAC(mac)
		must(t, err)
		must(t, p.nl.LinkSetHardwareAddr(gl, p.mac))
	} else {
		p.mac = gl.Attrs().HardwareAddr
	}
	if ip.IsValid() {
		must(t, p.nl.AddrAdd(gl, &netlink.Addr{IPNet: &net.IPNet{IP: ip.Addr().AsSlice(), Mask: net.CIDRMask(ip.Bits(), 32)}}))
	}
	must(t, p.nl.LinkSetUp(gl))
	if gw.IsValid() {
		must(t, p.nl.RouteAdd(&netlink.Route{LinkIndex: gl.Attrs().Index, Gw: gw.AsSlice()}))
	}
	hl, err := l.nl.LinkByName(hostIf)
	must(t, err)
	must(t, l.nl.LinkSetUp(hl))
	waitUp(t, ns, p.ifc)
	waitUp(t, l.ns, hostIf)
	return p
}

// addUplink creates the uplink veth "up0" with addr on the host side and
// an outside namespace at peerAddr on the same /24.
func (l *lab) addUplink(t testing.TB, addr, peerAddr netip.Prefix) *peer {
	t.Helper()
	p := l.addPeer(t, "up0", "", peerAddr, netip.Addr{})
	hl, err := l.nl.LinkByName("up0")
	must(t, err)
	must(t, l.nl.AddrAdd(hl, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}}))
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) reconcile(t testing.TB, st State) Changes {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := l.host.Reconcile(ctx, st)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return ch
}

// in runs fn inside ns.
func in(ns netns.NsHandle, fn func() error) error { return InNetNS(ns, fn) }

// listenTCP listens on addr inside ns and answers every connection with
// one line: the text "hello from <addr>\n", then echoes until EOF.
func listenTCP(t testing.TB, ns netns.NsHandle, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	must(t, in(ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }))
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "hello from %s to %s\n", addr, c.RemoteAddr())
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// dialTCP connects from ns and reads the greeting line.
func dialTCP(ns netns.NsHandle, addr string) (net.Conn, error) {
	c, _, err := dialGreet(ns, addr)
	return c, err
}

// dialGreet connects from ns and returns the connection and the greeting.
func dialGreet(ns netns.NsHandle, addr string) (net.Conn, string, error) {
	var c net.Conn
	err := in(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, time.Second)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(deadline))
	buf := make([]byte, 128)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		c.Close()
		return nil, "", fmt.Errorf("read greeting: %v", err)
	}
	return c, string(buf[:n]), nil
}

func canTCP(ns netns.NsHandle, addr string) error {
	c, err := dialTCP(ns, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// echo sends a line over an established connection and waits for it back.
func echo(c net.Conn) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	for got := 0; got < 5; {
		n, err := c.Read(buf[got:])
		if err != nil {
			return err
		}
		got += n
	}
	if string(buf) != "ping\n" {
		return errors.New("echo mismatch")
	}
	return nil
}

// ping sends one ICMP echo request (RFC 792) from ns to dst and waits for
// the matching reply.
func ping(ns netns.NsHandle, dst netip.Addr) error {
	var c net.PacketConn
	if err := in(ns, func() (err error) { c, err = net.ListenPacket("ip4:icmp", "0.0.0.0"); return err }); err != nil {
		return err
	}
	defer c.Close()
	id := uint16(os.Getpid())
	seq := uint16(time.Now().UnixNano())
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'i', 'v'}
	cs := inetChecksum(msg)
	msg[2], msg[3] = byte(cs>>8), byte(cs)
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s: %w", dst, err)
		}
		if n >= 8 && buf[0] == 0 && from.(*net.IPAddr).IP.Equal(dst.AsSlice()) &&
			uint16(buf[6])<<8|uint16(buf[7]) == seq {
			return nil
		}
	}
}

// pingWithin pings until a reply or until d has passed: for a path that
// must work, where the first request may wait on a neighbour entry that an
// earlier, refused ping left in its resolution retries.
func pingWithin(ns netns.NsHandle, dst netip.Addr, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := ping(ns, dst)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// inetChecksum is the Internet checksum (RFC 1071).
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// waitUp waits until every named link in ns is operationally up (carrier
// on, after the kernel's linkwatch has run), so that the first test
// packets are not dropped by a link that is still coming up.
func waitUp(t testing.TB, ns netns.NsHandle, names ...string) {
	t.Helper()
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &ns, ListExisting: true})
	must(t, err)
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case u, ok := <-updates:
			if !ok {
				t.Fatal("link subscription closed")
			}
			a := u.Link.Attrs()
			if pending[a.Name] && a.OperState == netlink.OperUp {
				delete(pending, a.Name)
			}
		case <-timer.C:
			t.Fatalf("links never came up: %v", pending)
		}
	}
}
