//go:build rack

package racktest

// The L1 side of the guest I/O benchmark (BenchmarkVMMGuestIOVersusQEMU):
// it runs inside the L1 rack server, makes a tap with the peer's address,
// serves the guestio peer on it, and boots the cloud kernel with the guestio
// initrd alternately under ironvisor-vmm and QEMU on the same tap and disk.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/build/rack/guestio"
)

// gioDeadline bounds one guest I/O run, boot included.
const gioDeadline = 6 * time.Minute

// BenchmarkInL1GuestIO boots the cloud kernel with the guestio initrd once
// per iteration under each VMM (alternating which goes first) on the same
// tap and the same raw file, and prints each run's results: 4 KiB random
// O_DIRECT reads at depth 16 (IOPS), TCP guest to L1 and L1 to guest
// (MB/s), and the p50 of a one-byte TCP ping-pong (µs). Stalled boots are
// retried as in BenchmarkInL1Block.
func BenchmarkInL1GuestIO(b *testing.B) {
	needL1(b, l1Kernel, l1GioInitrd)
	disk := filepath.Join(b.TempDir(), "disk.img")
	if err := guestio.FillPattern(disk, gioDiskMiB<<20, 4096); err != nil {
		b.Fatal(err)
	}
	if err := gioTap(); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gioPeerIP, gioPeerPort))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = guestio.Serve(ln) }()
	alternate(b, "VMMGuestIOVersusQEMU", gioArgv(disk), gioRun)
}

// gioTap creates the persistent tap gioTapName (vnet header, no packet
// info, as both VMMs open it) with the peer's address, and brings it up.
func gioTap() error {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		if out, err := exec.Command("modprobe", "tun").CombinedOutput(); err != nil {
			return fmt.Errorf("modprobe tun: %v: %s", err, out)
		}
	}
	tap := &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: gioTapName},
		Mode:      netlink.TUNTAP_MODE_TAP,
		Flags:     netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR,
	}
	if err := netlink.LinkAdd(tap); err != nil {
		return fmt.Errorf("tap %s: %w", gioTapName, err)
	}
	addr, err := netlink.ParseAddr(gioPeerIP + "/24")
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(tap, addr); err != nil {
		return fmt.Errorf("tap %s: address: %w", gioTapName, err)
	}
	if err := netlink.LinkSetUp(tap); err != nil {
		return fmt.Errorf("tap %s: up: %w", gioTapName, err)
	}
	return nil
}

// gioArgv returns the two command lines that boot the guest I/O guest:
// ironvisor-vmm (the VMM the appliance runs for each instance) and QEMU
// microvm with virtio-blk-device (cache=writeback, aio=threads, as in
// blkArgv) and virtio-net-device on the same tap without vhost.
func gioArgv(disk string) map[string][]string {
	cmdline := "console=ttyS0 quiet reboot=k panic=-1"
	return map[string][]string{
		"ironvisor": {l1VMM, "run", "--kernel", l1Kernel, "--initrd", l1GioInitrd, "--mem", "256M",
			"--disk", disk, "--tap", gioTapName + ",mac=" + gioGuestMAC, "--cmdline", cmdline + " i8042.noaux"},
		"qemu": {l1QEMU, "-M", "microvm", "-enable-kvm", "-cpu", "host", "-m", "256M", "-smp", "1", "-nodefaults",
			"-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot", "-L", "/usr/share/qemu",
			"-kernel", l1Kernel, "-initrd", l1GioInitrd, "-append", cmdline,
			"-drive", "id=d0,if=none,format=raw,cache=writeback,aio=threads,file=" + disk,
			"-device", "virtio-blk-device,drive=d0",
			"-netdev", "tap,id=n0,ifname=" + gioTapName + ",script=no,downscript=no,vhost=off",
			"-device", "virtio-net-device,netdev=n0,mac=" + gioGuestMAC},
	}
}

// gioRun boots one guest I/O guest and returns its results (parseGuestIO).
func gioRun(argv []string) ([]benchfmt.Value, error) {
	console, err := consoleRun(argv, "GUEST-IO-DONE", gioDeadline)
	if err != nil {
		return nil, err
	}
	return parseGuestIO(console)
}
