package racktest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// linuxGuestInit is the Debian guest's /init for TestLinuxOnKVM: it prints
// its CPU count and MemTotal, loads the virtio-mmio and virtio-net drivers
// and takes a DHCP lease on eth0, asks the metadata service
// (169.254.169.254) for its instance id and runs its user data, as
// cloud-init would, and turns Ctrl-Alt-Del (the service's graceful stop)
// into a poweroff: with kernel.ctrl-alt-del at 0 the kernel sends SIGINT to
// init instead of rebooting. wget is bounded by timeout(1), not by its own
// -T: Debian's busybox-static 1.35 crashes (SIGSEGV) on wget -T.
const linuxGuestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo 0 > /proc/sys/kernel/ctrl-alt-del
trap 'echo LINUX-GUEST-STOPPING; poweroff -f' INT TERM
echo "LINUX-GUEST-UP nproc=$(grep -c ^processor /proc/cpuinfo) memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
for m in virtio_mmio virtio_net; do modprobe $m || echo "LINUX-GUEST-MODPROBE-FAILED $m"; done
if ip link set eth0 up; then udhcpc -i eth0 -n -q -t 30 -T 2 -s /bin/dhcp.sh || echo LINUX-GUEST-NO-LEASE; else echo LINUX-GUEST-NO-NIC; fi
if timeout 20 wget -q -O /instance-id http://169.254.169.254/latest/meta-data/instance-id; then echo "LINUX-GUEST-ID $(cat /instance-id)"; else echo LINUX-GUEST-NO-METADATA; fi
if timeout 20 wget -q -O /user-data http://169.254.169.254/latest/user-data; then chmod +x /user-data; /user-data; fi
while true; do sleep 1; done
`

// linuxDHCPScript applies a udhcpc lease (address and default route) and
// prints it.
const linuxDHCPScript = `#!/bin/busybox sh
case "$1" in
bound|renew) ip addr add "$ip/$mask" dev "$interface"; [ -z "$router" ] || ip route add default via "${router%% *}"; echo "LINUX-GUEST-LEASE $ip" ;;
esac
`

// TestLinuxInRack runs TestLinuxOnKVM on real KVM inside a rack server (2
// CPUs, 2 GiB, so that medium fits; the host network's modules) that
// carries the artefacts' Debian cloud kernel and a busybox initrd at the
// paths the test reads.
func TestLinuxInRack(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(guestinitrd.Busybox); err != nil {
		t.Skipf("SKIP: no static busybox for the guest (apt-get install busybox-static): %v", err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.gz")
	err = guestinitrd.Write(initrd, guestinitrd.Spec{
		Init: linuxGuestInit, Kernel: set.GuestKernel, Modules: []string{"virtio_mmio", "virtio_net"},
		Files: []initramfs.Entry{initramfs.File("/bin/dhcp.sh", 0o755, []byte(linuxDHCPScript))},
	})
	if err != nil {
		t.Fatal(err)
	}
	gotest.Test(t, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/appliance/service",
		Run:     "TestLinuxOnKVM", Modules: netModules,
		Timeout: 12 * time.Minute, Ironvisor: true, MemoryMiB: 2048, CPUs: 2,
		Files: []initramfs.Entry{
			initramfs.HostFile("/guest/vmlinuz", 0o644, set.GuestKernel.Vmlinuz()),
			initramfs.HostFile("/guest/initrd.gz", 0o644, initrd),
		},
	}, "TestLinuxOnKVM")
}
