package virtionet

import (
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
