package hostnet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/netcfg/netnstest"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// tapConn is the guest's side of a tap, as the VMM holds it: frames with a
// virtio-net header. It is a raw IPv4 PacketConn for nclient4: it strips
// and adds the virtio-net and Ethernet headers.
type tapConn struct {
	f   *os.File
	mac net.HardwareAddr
}

// vnetHdr is the virtio-net header size a tap opened with IFF_VNET_HDR
// uses by default.
const vnetHdr = 10

func (c *tapConn) ReadFrom(b []byte) (int, net.Addr, error) {
	buf := make([]byte, 65536)
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			return 0, nil, err
		}
		fr := buf[:n]
		if len(fr) < vnetHdr+14 || fr[vnetHdr+12] != 0x08 || fr[vnetHdr+13] != 0x00 {
			continue // not IPv4 (ARP, IPv6...)
		}
		return copy(b, fr[vnetHdr+14:]), &net.IPAddr{}, nil
	}
}

func (c *tapConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	fr := make([]byte, vnetHdr, vnetHdr+14+len(b))
	fr = append(fr, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	fr = append(fr, c.mac...)
	fr = append(fr, 0x08, 0x00)
	if _, err := c.f.Write(append(fr, b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *tapConn) Close() error                       { return c.f.Close() }
func (c *tapConn) LocalAddr() net.Addr                { return &net.IPAddr{} }
func (c *tapConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *tapConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *tapConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// dhcpThroughTap runs a DHCP exchange (discover, offer, request, ack) as
// the guest behind nic's tap, and returns the lease.
func dhcpThroughTap(t *testing.T, ns netns.NsHandle, nic NIC) *nclient4.Lease {
	t.Helper()
	var f *os.File
	if err := netcfg.InNetNS(ns, func() (err error) { f, err = jail.OpenTap(nic.Tap); return err }); err != nil {
		t.Fatalf("open tap as the VMM would: %v", err)
	}
	mac, _ := net.ParseMAC(nic.MAC)
	conn := nclient4.NewBroadcastUDPConn(&tapConn{f: f, mac: mac}, &net.UDPAddr{Port: nclient4.ClientPort})
	cl, err := nclient4.NewWithConn(conn, mac, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lease, err := cl.Request(ctx)
	if err != nil {
		t.Fatalf("dhcp through %s: %v", nic.Tap, err)
	}
	return lease
}

// tapSetHas reports whether the bridge table's tap_mac set maps tap to mac
// (anti-spoofing: only that MAC may leave the tap).
func tapSetHas(t *testing.T, ns netns.NsHandle, tap string, mac net.HardwareAddr) bool {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.GetSetByName(&nftables.Table{Name: "ironvisor", Family: nftables.TableFamilyBridge}, "tap_mac")
	if err != nil {
		t.Fatalf("bridge table: %v", err)
	}
	els, err := c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range els {
		if bytes.HasPrefix(e.Key, append([]byte(tap), 0)) && bytes.Contains(e.Key, mac) {
			return true
		}
	}
	return false
}

// countApply counts the whole States a Kernel applies; its per-NIC path
// is the Kernel's own.
type countApply struct {
	*Kernel
	n int
}

func (c *countApply) Apply(ctx context.Context, st netcfg.State) error {
	c.n++
	return c.Kernel.Apply(ctx, st)
}

// TestKernelInNetNS drives hostnet with the real Kernel (netcfg's Reconcile
// and DHCP servers) in a fresh network namespace, the VMM side played by
// the test: the tap is on the network's bridge with its anti-spoofing and
// security-group rules, a DHCP client on the tap gets the instance's lease,
// detach removes the tap (both through the per-NIC path), a restart's Sync keeps live taps and removes
// orphans, and release frees the lease.
func TestKernelInNetNS(t *testing.T) {
	ns := netnstest.New(t)
	h, err := netcfg.OpenAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	k := NewKernel(h, t.Logf)
	defer k.Close()
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	ctx := context.Background()
	dir := t.TempDir()
	ca := &countApply{Kernel: k}
	n, err := Open(Options{Dir: dir, Apply: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Sync(ctx, st0, nil); err != nil {
		t.Fatal(err)
	}
	nic, err := n.Attach(ctx, inst("i-a", lifecycle.Pending))
	if err != nil {
		t.Fatal(err)
	}
	if ca.n != 1 {
		t.Fatalf("the attach applied the whole State (%d applies)", ca.n)
	}
	tap, err := nl.LinkByName(nic.Tap)
	if err != nil {
		t.Fatalf("tap %s: %v", nic.Tap, err)
	}
	br, err := nl.LinkByName(web.Bridge())
	if err != nil || tap.Type() != "tuntap" || tap.Attrs().MasterIndex != br.Attrs().Index {
		t.Fatalf("tap %s (%s) is not on bridge %s: %v", nic.Tap, tap.Type(), web.Bridge(), err)
	}
	mac, _ := net.ParseMAC(nic.MAC)
	if !tapSetHas(t, ns, nic.Tap, mac) {
		t.Fatalf("no anti-spoofing entry for %s with %s", nic.Tap, mac)
	}
	lease := dhcpThroughTap(t, ns, nic)
	if got := lease.ACK.YourIPAddr.String(); got != nic.IP.String() {
		t.Fatalf("dhcp gave %s, want %s", got, nic.IP)
	}
	if r := lease.ACK.Router(); len(r) != 1 || r[0].String() != web.Gateway().String() {
		t.Fatalf("dhcp router %v, want %s", r, web.Gateway())
	}

	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.LinkByName(nic.Tap); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Fatalf("tap after detach: %v", err)
	}
	if ca.n != 1 || tapSetHas(t, ns, nic.Tap, mac) {
		t.Fatalf("the detach applied the whole State (%d applies) or left the anti-spoofing entry", ca.n)
	}

	// A restart: i-a runs again (its VMM survived), an orphan tap left by
	// a VMM that did not is removed.
	nic2, err := n.Attach(ctx, inst("i-b", lifecycle.Pending))
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	k = NewKernel(h, t.Logf)
	if n, err = Open(Options{Dir: dir, Apply: k}); err != nil {
		t.Fatal(err)
	}
	if err := n.Sync(ctx, st0, []lifecycle.Instance{inst("i-a", lifecycle.Running), inst("i-b", lifecycle.Stopped)}); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.LinkByName(nic.Tap); err != nil {
		t.Fatalf("live instance's tap after sync: %v", err)
	}
	if _, err := nl.LinkByName(nic2.Tap); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Fatalf("orphan tap %s after sync: %v", nic2.Tap, err)
	}
	if lease := dhcpThroughTap(t, ns, nic); lease.ACK.YourIPAddr.String() != nic.IP.String() {
		t.Fatalf("dhcp after restart gave %s", lease.ACK.YourIPAddr)
	}
	if err := n.Release(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.LinkByName(nic.Tap); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Fatalf("tap after release: %v", err)
	}
	if _, ok := n.Lease("i-a"); ok {
		t.Fatal("lease after release")
	}
}
