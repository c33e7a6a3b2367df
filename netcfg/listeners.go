package netcfg

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcpListen is TCP_LISTEN (include/net/tcp_states.h), the state sock_diag
// reports for a listening TCP socket.
const tcpListen = 10

// HostListener returns a description of a socket of the host's network
// namespace that receives proto on port from outside: a listening TCP
// socket, or an unconnected UDP socket, bound to the wildcard or to any
// address but loopback. It returns "" when there is none. It asks the
// kernel (sock_diag), so it sees every service of the host, not a list: a
// port forward of such a port would take the service's traffic.
//
// The sock_diag socket is opened per call, in the Host's namespace: the
// calls are rare (a new forward), and Open must not fail on a kernel whose
// inet_diag is a module that is not loaded.
func (h *Host) HostListener(proto Proto, port uint16) (string, error) {
	if !h.ns.IsOpen() {
		return HostListener(proto, port)
	}
	nl, err := netlink.NewHandleAt(h.ns, unix.NETLINK_INET_DIAG)
	if err != nil {
		return "", fmt.Errorf("sock_diag handle: %w", err)
	}
	defer nl.Close()
	return hostListener(nl, proto, port)
}

// HostListener is Host.HostListener in the calling thread's network
// namespace.
func HostListener(proto Proto, port uint16) (string, error) {
	nl, err := netlink.NewHandle(unix.NETLINK_INET_DIAG)
	if err != nil {
		return "", fmt.Errorf("sock_diag handle: %w", err)
	}
	defer nl.Close()
	return hostListener(nl, proto, port)
}

func hostListener(nl *netlink.Handle, proto Proto, port uint16) (string, error) {
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var socks []*netlink.Socket
		var err error
		switch proto {
		case ProtoTCP:
			socks, err = nl.SocketDiagTCP(family)
		case ProtoUDP:
			socks, err = nl.SocketDiagUDP(family)
		default:
			return "", fmt.Errorf("%w: protocol %q: want tcp or udp", ErrInvalid, proto)
		}
		if errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("list %s sockets: %w (is the %s_diag module loaded?)", proto, err, proto)
		}
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return "", fmt.Errorf("list %s sockets: %w", proto, err)
		}
		for _, s := range socks {
			if s.ID.SourcePort != port || s.ID.Source.IsLoopback() {
				continue
			}
			if proto == ProtoTCP && s.State != tcpListen {
				continue
			}
			if proto == ProtoUDP && s.ID.DestinationPort != 0 {
				continue // connected: a client's socket, not a service
			}
			return fmt.Sprintf("%s %s", proto, net.JoinHostPort(s.ID.Source.String(), fmt.Sprint(port))), nil
		}
	}
	return "", nil
}
