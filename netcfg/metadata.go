package netcfg

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnknownNIC is returned when a connection carries no NIC's mark.
var ErrUnknownNIC = errors.New("connection does not come from a known NIC")

// MetadataIdentity returns the NIC a metadata connection came in on.
//
// The bridge chain of each tap marks every frame from it with the NIC's
// Mark, and Reconcile sets net.ipv4.tcp_fwmark_accept=1, so an accepted
// TCP socket carries the mark of its SYN (SO_MARK). The identity therefore
// comes from the ingress tap, not from the source address the guest chose.
// conn must be a TCP connection accepted in the Host's namespace.
func MetadataIdentity(conn net.Conn, st State) (NIC, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return NIC{}, fmt.Errorf("metadata identity: %T is not a socket", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return NIC{}, fmt.Errorf("metadata identity: %w", err)
	}
	var mark int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		mark, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
	}); err != nil {
		return NIC{}, fmt.Errorf("metadata identity: %w", err)
	}
	if serr != nil {
		return NIC{}, fmt.Errorf("metadata identity: read SO_MARK: %w", serr)
	}
	return nicByMark(st, uint32(mark))
}

// nicByMark finds the NIC whose Mark is m.
func nicByMark(st State, m uint32) (NIC, error) {
	if m&markFlag == 0 {
		return NIC{}, fmt.Errorf("mark %#x: %w", m, ErrUnknownNIC)
	}
	ix, err := st.index()
	if err != nil {
		return NIC{}, err
	}
	for _, c := range st.NICs {
		if c.Mark(ix.nets[c.Network]) == m {
			return c, nil
		}
	}
	return NIC{}, fmt.Errorf("mark %#x: %w", m, ErrUnknownNIC)
}
