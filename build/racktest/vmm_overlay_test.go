package racktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// busyboxPath is the static busybox both initrds run their scripts with.
const busyboxPath = "/bin/busybox"

// Console markers the tiny guests print.
const (
	markReset    = "TINY-PVH-RESET-OK"
	markPoweroff = "TINY-PVH-POWEROFF-OK"
	markSMP      = "TINY-SMP-OK"
)

// guestInit is the L2 guest's /init: load the virtio drivers, report the
// CPU count and how many of them use XSAVE (with the kernel's complaint if
// it turned XSAVE off), read the first disk and write to it, try to write the
// read-only disk, take a DHCP lease on eth0 and ping the server, read the
// entropy device, and power off (ACPI S5, so the VMM exits 0). With
// "rebootf" it reboots at once (reboot -f) instead. With
// "waitstop" it asks for a line on the serial console instead, ignoring
// empty lines (L1 sends an empty one first: one CI run lost the first
// byte of the line, "GUEST-HEARD 1-says-hi", cause not found yet), and
// waits to be stopped. With "pwrbtn" (vmm/cli's TestVMMPowerButton) it
// turns the kernel's Ctrl-Alt-Del reboot off, loads the ACPI button and
// evdev drivers, says which event device is the "Power Button", waits for
// KEY_POWER pressed on it (struct input_event on x86-64: 16 bytes of
// time, then type 1, code 116, value 1) and powers off.
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo GUEST-INIT-OK
if grep -q benchoff /proc/cmdline; then poweroff -f; fi
if grep -q rebootf /proc/cmdline; then reboot -f; fi
if grep -q waitstop /proc/cmdline; then
	echo GUEST-ASK
	for i in $(seq 60); do echo tick; if read -t 1 LINE && [ -n "$LINE" ]; then echo "GUEST-HEARD $LINE"; break; fi; done
	echo GUEST-WAITING; while true; do echo tick; sleep 1; done
fi
if grep -q pwrbtn /proc/cmdline; then
	echo 0 > /proc/sys/kernel/ctrl-alt-del
	for m in button evdev; do modprobe $m || echo GUEST-MODPROBE-FAILED $m; done
	ev=
	for d in /sys/class/input/event*; do [ "$(cat $d/device/name)" = "Power Button" ] && ev=/dev/input/${d##*/}; done
	if [ -z "$ev" ]; then echo GUEST-BUTTON-NONE; cat /proc/bus/input/devices; poweroff -f; fi
	exec 3<$ev
	echo "GUEST-BUTTON-READY $ev"
	while set -- $(dd bs=24 count=1 <&3 2>/dev/null | od -An -v -tu2) && [ "${9} ${10} ${11}" != "1 116 1" ]; do :; done
	echo GUEST-KEY-POWER
	poweroff -f
fi
for m in virtio_mmio virtio_blk virtio_net virtio_rng; do modprobe $m || echo GUEST-MODPROBE-FAILED $m; done
echo "GUEST-CPUS $(grep -c ^processor /proc/cpuinfo)"
echo "GUEST-XSAVE $(grep -c -w xsave /proc/cpuinfo)"
dmesg | grep 'XSAVE consistency' | sed 's/^/GUEST-DMESG /'
echo "GUEST-DISK0 $(dd if=/dev/vda bs=16 count=1 2>/dev/null)"
echo guest-wrote-this | dd of=/dev/vda bs=512 seek=8 conv=sync 2>/dev/null && sync && echo GUEST-RW-WRITE-OK
if echo nope | dd of=/dev/vdb bs=512 seek=8 conv=sync,fsync 2>/dev/null; then echo GUEST-RO-WRITE-ACCEPTED; else echo GUEST-RO-WRITE-REFUSED; fi
ip link set lo up; ip link set eth0 up
udhcpc -i eth0 -n -q -t 20 -T 1 -s /bin/dhcp.sh
ping -c 1 -W 10 10.0.2.1 >/dev/null && echo GUEST-PING-OK
echo "GUEST-RNG $(head -c 8 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
echo GUEST-DONE
poweroff -f
`

// dhcpScript applies a udhcpc lease.
const dhcpScript = `#!/bin/sh
case "$1" in
bound|renew) ip addr add "$ip/$mask" dev "$interface"; echo "GUEST-LEASE $ip" ;;
esac
`

// l1Init is the L1 server's /init: load kvm_amd and the networking modules,
// run the kvm and vm package tests and the vmm command's tests (control socket) on
// real KVM, run ironvisor vmm run on the tiny
// guests (with the uptime around one cold start), on a garbage kernel, and
// on the Debian cloud kernel with two disks and a tap on a bridge served by
// udhcpd (gotest.L2Boot: a boot lost to a triple fault of the nested
// emulation runs once more); then it boots the cloud kernel again with --stdin, answers its
// question on the serial console, waits until it is up and stops it with
// SIGTERM (the power button, which this guest ignores, then Ctrl-Alt-Del,
// on which it reboots through the i8042). Each run prints "RESULT name exit-code".
//
// The L1 starts kvmpin (build/rack/kvmpin) first: without it, the many VMs
// these runs create and end made the L1 kernel patch its own text each
// time, and under TCG that patching froze the whole L1 now and then (both
// CPUs looping in exc_int3), which looked like a stalled guest or a frozen
// pause/resume.
const l1Init = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
for m in kvm_amd tun bridge; do modprobe $m || echo "L1-MODPROBE-FAILED $m"; done
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm)"
run() { name=$1; shift; /bin/ironvisor vmm run "$@"; echo "RESULT $name $?"; }
` + gotest.L2Boot + `/bin/kvm.test -test.v -test.count=1 2>&1; echo "RESULT kvm.test $?"
/bin/vm.test -test.v -test.count=1 2>&1; echo "RESULT vm.test $?"
/bin/cmd.test -test.v -test.count=1 -test.run VMM 2>&1; echo "RESULT cmd.test $?"
echo "COLD-START-BEGIN $(cut -d' ' -f1 /proc/uptime)"
run pvh-poweroff --kernel /guests/pvh-poweroff.elf --mem 16M
echo "COLD-START-END $(cut -d' ' -f1 /proc/uptime)"
run pvh-reset --kernel /guests/pvh-reset.elf --mem 16M
run smp --kernel /guests/smp.elf --mem 16M --cpus 2
run garbage --kernel /guests/garbage --mem 16M
dd if=/dev/zero of=/tmp/rw.img bs=1M count=0 seek=8 2>/dev/null
printf IRONVISOR-DISK-0 | dd of=/tmp/rw.img conv=notrunc 2>/dev/null
cp /tmp/rw.img /tmp/ro.img
tunctl -t tap0 >/dev/null; brctl addbr br0; brctl addif br0 tap0
ip link set tap0 up; ip addr add 10.0.2.1/24 dev br0; ip link set br0 up
printf 'start 10.0.2.10\nend 10.0.2.20\ninterface br0\nlease_file /tmp/leases\noption subnet 255.255.255.0\n' > /tmp/udhcpd.conf
touch /tmp/leases; udhcpd /tmp/udhcpd.conf
l2boot linux --kernel /guest/vmlinuz --initrd /guest/initrd.gz --mem 256M --cpus 2 --disk /tmp/rw.img --disk /tmp/ro.img,ro --tap tap0,mac=02:00:00:00:00:01 --cmdline "console=ttyS0 quiet reboot=k panic=-1 i8042.noaux"
echo "DISK-AFTER $(dd if=/tmp/rw.img bs=512 skip=8 count=1 2>/dev/null | head -c 16)"
echo "RO-DISK-AFTER $(dd if=/tmp/ro.img bs=512 skip=8 count=1 2>/dev/null | head -c 4)"
: > /tmp/cad.log
(
	timeout 150 sh -c 'tail -f /tmp/cad.log | grep -q GUEST-ASK' && { echo; echo l1-says-hi; }
	timeout 150 sh -c 'tail -f /tmp/cad.log | grep -q GUEST-WAITING' && { echo L1-SIGTERM >&2; kill -TERM $(pidof ironvisor); }
) | timeout -s KILL 400 /bin/ironvisor vmm run --stdin --kernel /guest/vmlinuz --initrd /guest/initrd.gz --mem 128M --console-log /tmp/cad.log --cmdline "console=ttyS0 quiet reboot=k panic=-1 i8042.noaux waitstop"
rc=$?
grep -q GUEST-INIT-OK /tmp/cad.log || { echo "CAD-BOOT-DIED exit $rc:"; cat /tmp/cad.log; }
echo "RESULT cad $rc"
grep GUEST-HEARD /tmp/cad.log
echo L1-DONE
poweroff -f
`

// moduleEntries resolves names, with their dependencies, in a kernel's
// modules folder and returns the archive entries that install them with a
// modules.dep for busybox modprobe. A name that is neither a module nor
// built in fails t.
func moduleEntries(t testing.TB, dir, release string, names []string) []initramfs.Entry {
	t.Helper()
	entries, missing, err := guestinitrd.Modules(dir, release, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("modules %v are neither modules nor built into %s", missing, release)
	}
	return entries
}

// buildArchive writes entries to a gzip cpio at path.
func buildArchive(t testing.TB, path string, entries []initramfs.Entry) {
	t.Helper()
	b := initramfs.New()
	if err := b.Add(entries...); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteFile(path, initramfs.Gzip); err != nil {
		t.Fatal(err)
	}
}

// compileTests builds the test binary of pkg, statically, for L1.
func compileTests(t testing.TB, pkg, out string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "test", "-c", "-tags", gotest.Tags, "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, b)
	}
}

// guestInitrd builds the L2 guest's busybox initrd with the virtio,
// ACPI button and evdev modules of the cloud kernel.
func guestInitrd(t testing.TB, set *artefacts.Set, dir string) string {
	t.Helper()
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skipf("SKIP: no static busybox at %s (apt-get install busybox-static): %v", busyboxPath, err)
	}
	path := filepath.Join(dir, "guest-initrd.gz")
	err := guestinitrd.Write(path, guestinitrd.Spec{
		Init: guestInit, Kernel: set.GuestKernel,
		Modules: []string{"virtio_mmio", "virtio_blk", "virtio_net", "virtio_rng", "button", "evdev"},
		Files:   []initramfs.Entry{initramfs.File("/bin/dhcp.sh", 0o755, []byte(dhcpScript))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// vmmOverlay builds the L1 initrd of TestVMMInRack: busybox, the ironvisor
// binary under test, kvm_amd and bridge/tun modules of the host kernel, the
// vm test binary, the tiny guests, and the cloud kernel with its own
// busybox initrd.
func vmmOverlay(t testing.TB, set *artefacts.Set) string {
	t.Helper()
	dir := t.TempDir()
	vmTest := filepath.Join(dir, "vm.test")
	compileTests(t, "./vmm/vm", vmTest)
	cmdTest := filepath.Join(dir, "cmd.test")
	compileTests(t, "./vmm/cli", cmdTest)
	kvmTest := filepath.Join(dir, "kvm.test")
	compileTests(t, "./vmm/kvm", kvmTest)
	return vmmOverlayWith(t, set, l1Init, []initramfs.Entry{
		initramfs.HostFile("/bin/vm.test", 0o755, vmTest),
		initramfs.HostFile("/bin/cmd.test", 0o755, cmdTest),
		initramfs.HostFile("/bin/kvm.test", 0o755, kvmTest),
		initramfs.File("/guests/pvh-poweroff.elf", 0o644, testutil.PVHHello(markPoweroff+"\n", testutil.ExitPoweroff)),
		initramfs.File("/guests/pvh-reset.elf", 0o644, testutil.PVHHello(markReset+"\n", testutil.ExitReset)),
		initramfs.File("/guests/smp.elf", 0o644, testutil.SMPHello(markSMP+"\n", 2, testutil.ExitPoweroff)),
		initramfs.File("/guests/garbage", 0o644, []byte("this is not a kernel")),
	})
}

// vmmOverlayWith builds an L1 initrd running init, with busybox, ironvisor,
// the host kernel's kvm_amd, tun and bridge modules, the cloud kernel and
// its guest initrd, and extra entries.
func vmmOverlayWith(t testing.TB, set *artefacts.Set, init string, extra []initramfs.Entry) string {
	t.Helper()
	return vmmOverlayModules(t, set, init, extra, nil)
}

// vmmOverlayModules is vmmOverlayWith with more host-kernel modules (one
// modules.dep lists them all).
func vmmOverlayModules(t testing.TB, set *artefacts.Set, init string, extra []initramfs.Entry, modules []string) string {
	t.Helper()
	dir := t.TempDir()
	h := set.HostKernel
	l1 := []initramfs.Entry{
		initramfs.Console(),
		initramfs.HostFile("/bin/busybox", 0o755, busyboxPath),
		initramfs.File("/init", 0o755, []byte(init)),
		initramfs.HostFile("/bin/ironvisor", 0o755, set.IronvisorPath()),
		initramfs.HostFile("/guest/vmlinuz", 0o644, set.GuestKernel.Vmlinuz()),
		initramfs.HostFile("/guest/initrd.gz", 0o644, guestInitrd(t, set, dir)),
	}
	l1 = append(l1, extra...)
	l1 = append(l1, guestinitrd.RootDirs()...)
	l1 = append(l1, moduleEntries(t, h.ModulesDir(), h.Release, append([]string{"kvm_amd", "tun", "bridge"}, modules...))...)
	l1 = append(l1, initramfs.HostFile(gotest.KVMPinPath, 0o755, buildKVMPin(t, dir)))
	overlay := filepath.Join(dir, "l1-overlay.gz")
	buildArchive(t, overlay, l1)
	return overlay
}

// buildKVMPin builds build/rack/kvmpin into dir for an L1 overlay; the L1's
// /init starts it with gotest.PinKVM before any VM runs.
func buildKVMPin(t testing.TB, dir string) string {
	t.Helper()
	pin := filepath.Join(dir, "kvmpin")
	if err := gotest.Build(context.Background(), gotest.KVMPinPackage, pin); err != nil {
		t.Fatal(err)
	}
	return pin
}
