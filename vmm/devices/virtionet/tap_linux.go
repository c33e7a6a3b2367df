package virtionet

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Tap offload flags for TUNSETOFFLOAD (linux/if_tun.h).
const (
	tunFCsum   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
	tunFUFO    = 0x10
)

var (
	noDeadline   time.Time
	pastDeadline = time.Unix(1, 0)
)

// setVnetHdrSize is TUNSETVNETHDRSZ: the tap prefixes every frame with a
// header of n bytes.
func setVnetHdrSize(fd, n int) error {
	return unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, n)
}

// setOffload is TUNSETOFFLOAD: the offloads the tap may leave to its reader.
func setOffload(fd int, flags uint32) error {
	return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, int(flags))
}

// OpenTap opens (creating it if needed) the tap interface name the way New
// needs it: IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, non-blocking, so the returned
// file is pollable. Whoever passes the fd to a jailed VMM keeps those
// properties: O_NONBLOCK belongs to the open file, and os.NewFile on a
// non-blocking fd yields a pollable file again.
func OpenTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach tap %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
