package jail

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenTap opens (creating it if needed) the tap interface name the way the
// virtio-net device (vmm/devices/virtionet) needs it: IFF_TAP|IFF_NO_PI|
// IFF_VNET_HDR, non-blocking, so the returned file is pollable
// (Documentation/networking/tuntap.rst).
//
// The tap is one of the files a VMM is handed, so it is opened here: by the
// supervisor for a jailed VMM (which passes it in Files.Taps), and by
// `vmm run --tap NAME` for an unjailed one. Whoever passes the fd on keeps
// those properties: O_NONBLOCK belongs to the open file, and os.NewFile on a
// non-blocking fd yields a pollable file again.
func OpenTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tap %s: open /dev/net/tun: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap-"+name), nil
}
