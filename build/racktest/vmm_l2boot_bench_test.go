package racktest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// l2BootRounds is how many boots of each VMM BenchmarkL2BootReliability
// alternates; IRONVISOR_L2_ROUNDS overrides it.
const l2BootRounds = 20

// l2BootInit is the L1 /init of BenchmarkL2BootReliability: it boots the
// cloud kernel (2 vCPUs, 256 MiB, its console to a file; with
// IRONVISOR_L2_DEVICES=1 also two virtio disks and a tap on a bridge)
// alternately under
// ironvisor and under QEMU microvm, each with a 120 s deadline, and prints
// for each boot whether the guest reached its /init (GUEST-INIT-OK) and
// how the VMM ended; a failed boot is followed by its console's last lines
// and the VMM's stderr (the register report of a triple fault), each
// prefixed L2FAIL.
const l2BootInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
modprobe kvm_amd || echo L1-MODPROBE-FAILED
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm)"
CMD="console=ttyS0 reboot=k panic=-1 benchoff"
IVDEV=""; QDEV=""
if grep -q l2devices /proc/cmdline; then
	modprobe tun; modprobe bridge
	dd if=/dev/zero of=/tmp/rw.img bs=1M count=0 seek=8 2>/dev/null; cp /tmp/rw.img /tmp/ro.img
	tunctl -t tap0 >/dev/null; brctl addbr br0; brctl addif br0 tap0; ip link set tap0 up; ip link set br0 up
	IVDEV="--disk /tmp/rw.img --disk /tmp/ro.img,ro --tap tap0,mac=02:00:00:00:00:01"
	QDEV="-drive id=d0,if=none,format=raw,file=/tmp/rw.img -device virtio-blk-device,drive=d0 -drive id=d1,if=none,format=raw,readonly=on,file=/tmp/ro.img -device virtio-blk-device,drive=d1 -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-device,netdev=n0,mac=02:00:00:00:00:01"
fi
boot() {
	name=$1; shift
	: > /tmp/c.log
	timeout -s KILL 120 "$@" >/dev/null 2>/tmp/e.log; rc=$?
	echo "L2BOOT $name rc=$rc init=$(grep -c GUEST-INIT-OK /tmp/c.log) lines=$(wc -l < /tmp/c.log)"
	grep -q GUEST-INIT-OK /tmp/c.log || tail -n 60 /tmp/c.log /tmp/e.log | sed 's/^/L2FAIL /'
}
for i in $(seq ROUNDS); do
	boot ironvisor /bin/ironvisor vmm run --kernel /guest/vmlinuz --initrd /guest/initrd.gz --mem 256M --cpus 2 --console-log /tmp/c.log $IVDEV --cmdline "$CMD i8042.noaux"
	boot qemu /usr/bin/qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 256M -smp 2 -nodefaults -no-user-config -display none -serial file:/tmp/c.log -no-reboot -L /usr/share/qemu -kernel /guest/vmlinuz -initrd /guest/initrd.gz $QDEV -append "$CMD"
done
echo L1-DONE
poweroff -f
`

// l2BootLine is one boot's outcome.
var l2BootLine = regexp.MustCompile(`L2BOOT (\S+) rc=(\d+) init=(\d+) lines=(\d+)\r?\n`)

// BenchmarkL2BootReliability measures how often the Debian cloud kernel
// fails to reach its /init inside the virtual rack (KVM in a TCG server),
// under ironvisor and under QEMU microvm in the same server, alternating.
// It reports the failures of each VMM per hundred boots; the rack tests'
// retry of boots that die before /init rests on these figures.
func BenchmarkL2BootReliability(b *testing.B) {
	for b.Loop() {
		l2BootOnce(b)
	}
}

// l2BootOnce runs one L1 server with the alternating boots.
func l2BootOnce(b *testing.B) {
	set := artefactsOrSkip(b)
	rounds := l2BootRounds
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_L2_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	overlay := vmmOverlayWith(b, set, strings.ReplaceAll(l2BootInit, "ROUNDS", strconv.Itoa(rounds)), gotest.QEMUEntries(b))
	dir := b.TempDir()
	fresh := filepath.Join(dir, "ironvisor.gz")
	buildArchive(b, fresh, []initramfs.Entry{initramfs.HostFile("/bin/ironvisor", 0o755, buildCommand(b, dir, "ironvisor"))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*8*time.Minute)
	defer cancel()
	appendLine := "console=ttyS0 quiet panic=-1"
	if os.Getenv("IRONVISOR_L2_DEVICES") == "1" {
		appendLine += " l2devices" // two disks and a tap on a bridge, as in TestVMMInRack
	}
	srv, err := rack.Start(ctx, rack.Options{
		Name: "l2boot", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay, fresh},
		Append: appendLine, MemoryMiB: 2048, CPUs: 2, LogDir: dir,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	boots, failed := map[string]int{}, map[string]int{}
	for range 2 * rounds {
		m, err := srv.Console.ExpectRegexp(ctx, l2BootLine)
		if err != nil {
			b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
		}
		boots[m[1]]++
		if m[3] == "0" {
			failed[m[1]]++
			b.Logf("%s boot %d: no /init (exit %s, %s console lines)", m[1], boots[m[1]], m[2], m[4])
		}
	}
	for _, line := range strings.Split(srv.Console.String(), "\n") {
		if strings.HasPrefix(line, "L2FAIL ") {
			b.Log(strings.TrimRight(line, "\r"))
		}
	}
	for _, name := range []string{"ironvisor", "qemu"} {
		b.Logf("ROW: | %s | %d | %d | %.1f |", name, boots[name], failed[name], 100*float64(failed[name])/float64(boots[name]))
		b.ReportMetric(100*float64(failed[name])/float64(boots[name]), name+"-fail-%")
	}
}
