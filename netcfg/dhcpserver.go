package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/iana"
)

// DefaultLeaseTime is the lease time handed to guests. Leases are fixed, so
// it only bounds how long a guest keeps a stale configuration.
const DefaultLeaseTime = time.Hour

// LeaseTable answers DHCP for one network: the fixed leases of its NICs,
// keyed by MAC, and the options every guest gets. The options are fixed;
// build a new one (NewLeaseTable) when they change. One NIC's lease
// changes in place (set, drop).
type LeaseTable struct {
	network Network
	mu      sync.RWMutex
	byMAC   map[string]netip.Addr // guarded by mu
	dns     []net.IP
	mtu     int
	lease   time.Duration
}

// NewLeaseTable returns the lease table of the named network in st.
func NewLeaseTable(st State, network string) (*LeaseTable, error) {
	ix, err := st.index()
	if err != nil {
		return nil, err
	}
	n, ok := ix.nets[network]
	if !ok {
		return nil, fmt.Errorf("dhcp: unknown network %q", network)
	}
	lt := &LeaseTable{network: *n, byMAC: map[string]netip.Addr{}, mtu: mtuOf(st.MTU), lease: DefaultLeaseTime}
	for _, c := range st.NICs {
		if c.Network == network {
			mac, _ := ParseMAC(c.MAC)
			lt.byMAC[mac.String()] = c.IP
		}
	}
	for _, d := range st.DNSServers {
		lt.dns = append(lt.dns, d.AsSlice())
	}
	if len(lt.dns) == 0 && st.DNS {
		lt.dns = []net.IP{n.Gateway().AsSlice()}
	}
	return lt, nil
}

// errIgnore marks requests the server drops silently: not ours to answer.
var errIgnore = errors.New("dhcp: ignored")

// Reply builds the answer to a client message (RFC 2131 section 4.3): an
// OFFER for a DISCOVER, an ACK for a REQUEST of the client's own address
// and a NAK for any other address. Messages from MACs that own no NIC on
// the network, from non-Ethernet hardware, or of other types get no answer
// (errIgnore), so random chaddrs starve nobody.
func (lt *LeaseTable) Reply(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, errIgnore
	}
	lt.mu.RLock()
	ip, ok := lt.byMAC[req.ClientHWAddr.String()]
	lt.mu.RUnlock()
	if !ok {
		return nil, errIgnore
	}
	gw := lt.network.Gateway().AsSlice()
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		typ = dhcpv4.MessageTypeAck
		if want != nil && !want.IsUnspecified() && !want.Equal(ip.AsSlice()) {
			return dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)))
		}
	default:
		return nil, errIgnore
	}
	mask := net.CIDRMask(lt.network.CIDR.Bits(), 32)
	// RFC 3442: a client that gets option 121 ignores option 3, so the
	// default route is repeated there, next to the metadata route.
	routes := dhcpv4.OptClasslessStaticRoute(
		&dhcpv4.Route{Dest: &net.IPNet{IP: MetadataAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Router: gw},
		&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: gw},
	)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(ip.AsSlice()),
		dhcpv4.WithServerIP(gw),
		dhcpv4.WithNetmask(mask),
		dhcpv4.WithRouter(gw),
		dhcpv4.WithLeaseTime(uint32(lt.lease / time.Second)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(lt.mtu >> 8), byte(lt.mtu)}),
		dhcpv4.WithOption(routes),
	}
	if len(lt.dns) > 0 {
		mods = append(mods, dhcpv4.WithDNS(lt.dns...))
	}
	return dhcpv4.NewReplyFromRequest(req, mods...)
}

// DHCPServer is the DHCP server of one network, bound to its bridge.
type DHCPServer struct {
	network string
	table   atomic.Pointer[LeaseTable]
	srv     *server4.Server
	done    chan error
	logf    func(format string, args ...any)
}

// ServeDHCP starts a DHCP server on the bridge of the named network, in the
// Host's namespace, with the leases of st. The socket is bound to the
// bridge (SO_BINDTODEVICE), so it never answers on another interface.
// Reconcile must have created the bridge. logf (may be nil) receives
// errors sending replies. Close stops the server.
func (h *Host) ServeDHCP(st State, network string, logf func(format string, args ...any)) (*DHCPServer, error) {
	lt, err := NewLeaseTable(st, network)
	if err != nil {
		return nil, err
	}
	s := &DHCPServer{network: network, done: make(chan error, 1), logf: logf}
	s.table.Store(lt)
	err = h.Do(func() error {
		var err error
		s.srv, err = server4.NewServer(lt.network.Bridge(), nil, s.handle)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dhcp server on %s: %w", lt.network.Bridge(), err)
	}
	go func() { s.done <- s.srv.Serve() }()
	return s, nil
}

func (s *DHCPServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	reply, err := s.table.Load().Reply(m)
	if errors.Is(err, errIgnore) {
		return
	}
	if err == nil {
		_, err = conn.WriteTo(reply.ToBytes(), peer)
	}
	if err != nil && s.logf != nil {
		s.logf("dhcp %s: reply to %s: %v", s.network, m.ClientHWAddr, err)
	}
}

// Update replaces the server's leases with those of st, at once and
// without dropping requests in flight.
func (s *DHCPServer) Update(st State) error {
	lt, err := NewLeaseTable(st, s.network)
	if err != nil {
		return err
	}
	if lt.network.Index != s.table.Load().network.Index {
		return fmt.Errorf("dhcp %s: network index changed, restart the server", s.network)
	}
	s.table.Store(lt)
	return nil
}

// Close stops the server and waits for it.
func (s *DHCPServer) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; serr != nil && !errors.Is(serr, net.ErrClosed) {
		return serr
	}
	return err
}

// DHCP runs one DHCPServer per network of the State it was last given.
type DHCP struct {
	h    *Host
	logf func(format string, args ...any)

	mu      sync.Mutex
	servers map[string]*DHCPServer // guarded by mu; network name → server
}

// NewDHCP returns a DHCP manager for the Host's namespace; call Update
// after each Reconcile.
func (h *Host) NewDHCP(logf func(format string, args ...any)) *DHCP {
	return &DHCP{h: h, logf: logf, servers: map[string]*DHCPServer{}}
}

// Update starts servers for new networks, stops those of removed networks
// (or whose index changed) and swaps the leases of the others.
func (d *DHCP) Update(st State) error {
	ix, err := st.index()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for name, s := range d.servers {
		n, ok := ix.nets[name]
		if ok && n.Index == s.table.Load().network.Index {
			errs = append(errs, s.Update(st))
			continue
		}
		errs = append(errs, s.Close())
		delete(d.servers, name)
	}
	for _, n := range st.Networks {
		if d.servers[n.Name] != nil {
			continue
		}
		s, err := d.h.ServeDHCP(st, n.Name, d.logf)
		if err != nil {
			errs = append(errs, &NetworkError{Network: n.Name, Err: err})
			continue
		}
		d.servers[n.Name] = s
	}
	return errors.Join(errs...)
}

// SetLease makes the server of network hand ip to the guest with MAC
// mac, at once and without rebuilding its table: what one NIC's attach
// needs after AttachNIC. It fails when that network has no server (Update
// starts them).
func (d *DHCP) SetLease(network, mac string, ip netip.Addr) error {
	hw, err := ParseMAC(mac)
	if err != nil {
		return err
	}
	lt, err := d.table(network)
	if err != nil {
		return err
	}
	if !lt.network.CIDR.Contains(ip) {
		return fmt.Errorf("dhcp %s: %s is not in %s", network, ip, lt.network.CIDR)
	}
	lt.mu.Lock()
	lt.byMAC[hw.String()] = ip
	lt.mu.Unlock()
	return nil
}

// DropLease stops the server of network from answering MAC mac.
func (d *DHCP) DropLease(network, mac string) error {
	hw, err := ParseMAC(mac)
	if err != nil {
		return err
	}
	lt, err := d.table(network)
	if err != nil {
		return err
	}
	lt.mu.Lock()
	delete(lt.byMAC, hw.String())
	lt.mu.Unlock()
	return nil
}

// table returns the lease table of network's server.
func (d *DHCP) table(network string) (*LeaseTable, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.servers[network]
	if s == nil {
		return nil, fmt.Errorf("dhcp: no server for network %q", network)
	}
	return s.table.Load(), nil
}

// Close stops every server.
func (d *DHCP) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for name, s := range d.servers {
		errs = append(errs, s.Close())
		delete(d.servers, name)
	}
	return errors.Join(errs...)
}
