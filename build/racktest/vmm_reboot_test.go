package racktest

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
)

// rebootInit is the L1 /init of TestVMMGuestReboot: it boots the Debian
// cloud kernel with the busybox guest initrd, whose /init runs `reboot -f`
// ("rebootf"), once with no reboot= on the command line (the kernel's own
// choice of reset method, as a stock guest boots) and once with reboot=a
// (the ACPI reset register only), each under a deadline, and prints how
// each VMM ended after its console and stderr (gotest.L2Boot: a boot lost
// to a triple fault or a hang of the nested emulation runs once more).
// Before that it runs the vm package's KVM tests of the two reset paths
// with tiny guests.
const rebootInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
modprobe kvm_amd || echo L1-MODPROBE-FAILED
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm)"
/bin/vm.test -test.v -test.count=1 -test.run 'TestGuestResetsThrough' 2>&1; echo "VMTEST rc=$?"
` + gotest.L2Boot + `boot() {
	name=$1; shift
	l2boot $name --kernel /guest/vmlinuz --initrd /guest/initrd.gz --mem 256M --cpus 2 --cmdline "console=ttyS0 panic=-1 i8042.noaux rebootf $*"
	echo "REBOOTED $name rc=$rc init=$(grep -c GUEST-INIT-OK /tmp/$name.log) how=$(grep -o 'guest reset ([^)]*)' /tmp/$name.err | tail -n 1)."
}
boot stock
boot acpi reboot=a
echo L1-DONE
poweroff -f
`

// vmTestLine is the outcome of the vm package's reset tests.
var vmTestLine = regexp.MustCompile(`VMTEST rc=(\d+)\r?\n`)

// rebootLine is one boot's outcome.
var rebootLine = regexp.MustCompile(`REBOOTED (\w+) rc=(\d+) init=(\d+) how=(.*)\.\r?\n`)

// TestVMMGuestReboot checks that the tiny guests' ACPI reset and jump to
// the reset vector end a VM with exitcode.Reset (vm package tests on
// KVM), and that a stock Linux guest's reboot ends the VMM with
// exitcode.Reset: the Debian cloud kernel with no reboot= (on a
// hardware-reduced ACPI machine without EFI it tries EFI, then jumps to
// the BIOS reset vector) and with reboot=a (the FADT's reset register).
// Each boot has a 150 s deadline; a guest that hangs after "reboot:
// machine restart" is killed, booted once more (gotest.L2Boot: the nested
// emulation hangs guests now and then), and fails the test when it hangs
// again. (reboot=a alone also reset before the FADT had a reset register,
// through Linux's fallback to the i8042: the VMM's reason tells the two
// apart.)
func TestVMMGuestReboot(t *testing.T) {
	set := artefactsOrSkip(t)
	dir := t.TempDir()
	vmTest := filepath.Join(dir, "vm.test")
	compileTests(t, "./vmm/vm", vmTest)
	overlay := vmmOverlayWith(t, set, rebootInit, []initramfs.Entry{initramfs.HostFile("/bin/vm.test", 0o755, vmTest)})
	fresh := filepath.Join(dir, "ironvisor.gz")
	buildArchive(t, fresh, []initramfs.Entry{initramfs.HostFile("/bin/ironvisor", 0o755, buildCommand(t, dir, "ironvisor"))})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "reboot", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay, fresh},
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 1024, CPUs: 2, LogDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if m, err := srv.Console.ExpectRegexp(ctx, vmTestLine); err != nil || m[1] != "0" {
		t.Errorf("vm package reset tests: %v\n%s", err, srv.Console.Tail(40))
	}
	for _, name := range []string{"TestGuestResetsThroughACPI", "TestGuestResetsThroughResetVector"} {
		if err := srv.Console.Seen("--- PASS: " + name); err != nil {
			t.Errorf("%v\n%s", err, srv.Console.Tail(40))
		}
	}
	for _, want := range []struct{ name, how string }{
		{"stock", "guest reset (jumped to the BIOS reset vector)"},
		{"acpi", "guest reset (ACPI reset register)"},
	} {
		expectL2Boot(ctx, t, srv, want.name, exitcode.Reset)
		m, err := srv.Console.ExpectRegexp(ctx, rebootLine)
		if err != nil {
			t.Fatalf("%v\n%s", err, srv.Console.Tail(40))
		}
		rc, _ := strconv.Atoi(m[2])
		t.Logf("%s: VMM exit %d: %s", m[1], rc, m[4])
		if m[1] != want.name || m[3] == "0" || rc != exitcode.Reset || m[4] != want.how {
			t.Errorf("%s reboot: VMM exit %d %q (want %d, %q), guest init seen %s times\n%s", m[1], rc, m[4], exitcode.Reset, want.how, m[3], srv.Console.Tail(40))
		}
	}
	if err := srv.Console.Expect(ctx, "L1-DONE"); err != nil {
		t.Fatal(err)
	}
}
