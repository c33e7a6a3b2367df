package racktest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// vmmTimeout bounds the whole L1 run: boot, the vm tests, the tiny guests
// and one Debian cloud kernel boot, all nested under TCG (measured about
// 3 minutes alone on the 2-core machine).
const vmmTimeout = 15 * time.Minute

// resultLine is what the L1 init prints after each run.
var resultLine = regexp.MustCompile(`RESULT (\S+) (\d+)\r?\n`)

// expectResult waits for the next RESULT line and checks its name and exit
// code.
func expectResult(ctx context.Context, t *testing.T, srv *rack.Server, name string, code int) {
	t.Helper()
	m, err := srv.Console.ExpectRegexp(ctx, resultLine)
	if err != nil {
		t.Fatalf("waiting for RESULT %s: %v", name, err)
	}
	got, _ := strconv.Atoi(m[2])
	if m[1] != name || got != code {
		t.Errorf("RESULT %s %d, want RESULT %s %d", m[1], got, name, code)
	}
}

// expectL2Boot waits for the end of the boot that the L1's l2boot
// (gotest.L2Boot) runs as name, logs a try lost to a triple fault or a
// hang (which l2boot runs once more), checks the last try's exit code and
// returns its console and the VMM's standard error.
func expectL2Boot(ctx context.Context, t *testing.T, srv *rack.Server, name string, code int) string {
	t.Helper()
	try := gotest.L2BootTry(name)
	for {
		m, err := srv.Console.ExpectRegexp(ctx, try)
		if err != nil {
			t.Fatalf("waiting for the end of %s's boot: %v\nlast console lines:\n%s", name, err, srv.Console.Tail(80))
		}
		if m[4] == "" {
			t.Logf("%s: try %s lost (%s), booted once more (gotest.L2Boot); its last lines:\n%s", name, m[1], m[3], lastLines(m[2], 40))
			continue
		}
		if got, _ := strconv.Atoi(m[4]); got != code {
			t.Errorf("RESULT %s %d, want %d; the console and the VMM's stderr:\n%s", name, got, code, m[2])
		}
		return m[2]
	}
}

// inOrder reports the first of markers that text lacks after the ones
// before it.
func inOrder(text string, markers ...string) error {
	for _, m := range markers {
		i := strings.Index(text, m)
		if i < 0 {
			return fmt.Errorf("no %q (after the markers before it)", m)
		}
		text = text[i+len(m):]
	}
	return nil
}

// expect waits for s on the console; when it never comes (a guest that
// died, a VMM that hung) the test fails with the console's last lines.
func expect(ctx context.Context, t *testing.T, srv *rack.Server, s string) {
	t.Helper()
	if err := srv.Console.Expect(ctx, s); err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, srv.Console.Tail(80))
	}
}

// uptimeLine captures an L1 /proc/uptime reading.
func uptime(ctx context.Context, t *testing.T, srv *rack.Server, label string) float64 {
	t.Helper()
	m, err := srv.Console.ExpectRegexp(ctx, regexp.MustCompile(label+` ([0-9.]+)\r?\n`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s %q: %v", label, m[1], err)
	}
	return v
}

// TestVMMInRack boots one L1 server with SVM and checks, in order:
//
//   - the vmm/kvm tests pass on real KVM (register, MSR, LAPIC, MP state,
//     CPUID, ioeventfd and irqfd round trips against the running kernel);
//   - the vmm/vm tests pass on real KVM (PVH, real-mode and SMP tiny guests,
//     pause/resume, forced stop, malformed images, guest RAM mapped with
//     2 MiB nested pages), and so does the
//     control-socket test of the vmm command (console, pause, resume,
//     counters, a graceful stop that ends forced);
//   - `ironvisor vmm run` on tiny guests: poweroff exits 0 with the marker
//     (and its cold start is measured), an i8042 reset exits 10, an SMP
//     guest's AP reports APIC ID 1, a garbage kernel exits 1 with a clear
//     error;
//   - the Debian cloud kernel boots with its busybox initrd, once (a boot
//     that dies fails the test, with the VMM's register report), sees 2
//     CPUs both using XSAVE (no "XSAVE consistency problem"), reads and
//     writes its virtio disk, cannot write the read-only one, gets a DHCP
//     lease over virtio-net from udhcpd on an L1 bridge, pings
//     it, reads virtio-rng and powers off (exit 0); the write is on the
//     image afterwards;
//   - `ironvisor vmm run --stdin` passes a line to the guest's serial
//     console, and SIGTERM to it presses the ACPI power button, which a
//     shell as init ignores, then types Ctrl-Alt-Del 5 s later: the cloud
//     kernel (C_A_D reboots at once) resets through the i8042 and the VMM
//     exits 10. (vmm/cli's TestVMMPowerButton, run here too, checks that
//     SIGTERM's button press powers off a guest that listens for it.)
func TestVMMInRack(t *testing.T) {
	set := artefactsOrSkip(t)
	overlay := vmmOverlay(t, set)
	ctx, cancel := context.WithTimeout(context.Background(), vmmTimeout)
	defer cancel()
	appendLine := "console=ttyS0 quiet panic=-1"
	srv, err := rack.Start(ctx, rack.Options{
		Name: "vmm", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay},
		Append: appendLine, MemoryMiB: 2048, CPUs: 2, LogDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })

	expect(ctx, t, srv, "L1-READY /dev/kvm")
	expect(ctx, t, srv, "--- PASS: TestRealRegisterRoundTrips")
	expectResult(ctx, t, srv, "kvm.test", 0)
	// The vm tests carry the rack build tag; a binary built without it
	// would exit 0 having run none of them.
	expect(ctx, t, srv, "--- PASS: TestSMPGuest")
	expect(ctx, t, srv, "--- PASS: TestForcedStop")
	expect(ctx, t, srv, "--- PASS: TestGuestRAMMappedWithHugePages")
	expectResult(ctx, t, srv, "vm.test", 0)
	expect(ctx, t, srv, "--- PASS: TestVMMRunControlSocket")
	expectResult(ctx, t, srv, "cmd.test", 0)
	for _, bad := range []string{"--- FAIL", "--- SKIP", "L1-MODPROBE-FAILED"} {
		if err := srv.Console.NotSeen(bad); err != nil {
			t.Error(err)
		}
	}

	begin := uptime(ctx, t, srv, "COLD-START-BEGIN")
	expect(ctx, t, srv, markPoweroff)
	expect(ctx, t, srv, "guest powered off (ACPI S5) (exit 0)")
	expectResult(ctx, t, srv, "pvh-poweroff", 0)
	end := uptime(ctx, t, srv, "COLD-START-END")
	t.Logf("cold start of a tiny PVH guest under nested TCG (exec to exit, /proc/uptime): %.2fs", end-begin)

	expect(ctx, t, srv, markReset)
	expect(ctx, t, srv, "guest reset through the i8042 (exit 10)")
	expectResult(ctx, t, srv, "pvh-reset", 10)
	expect(ctx, t, srv, "1"+markSMP)
	expectResult(ctx, t, srv, "smp", 0)
	expect(ctx, t, srv, "kernel image is neither a bzImage nor an ELF")
	expectResult(ctx, t, srv, "garbage", 1)

	linuxStart := time.Now()
	out := expectL2Boot(ctx, t, srv, "linux", 0)
	if err := inOrder(out,
		"GUEST-INIT-OK", "GUEST-CPUS 2", "GUEST-XSAVE 2", "GUEST-DISK0 IRONVISOR-DISK-0", "GUEST-RW-WRITE-OK",
		"GUEST-RO-WRITE-REFUSED", "GUEST-LEASE 10.0.2.", "GUEST-PING-OK", "GUEST-RNG ", "GUEST-DONE",
		"guest powered off (ACPI S5) (exit 0)",
	); err != nil {
		t.Errorf("the Debian cloud kernel's boot: %v; its console and the VMM's stderr:\n%s", err, out)
	}
	t.Logf("Debian cloud kernel: boot to poweroff in %.1fs under nested TCG", time.Since(linuxStart).Seconds())
	expect(ctx, t, srv, "DISK-AFTER guest-wrote-this")
	expect(ctx, t, srv, "L1-SIGTERM")
	expect(ctx, t, srv, "guest reset through the i8042 (exit 10)")
	expectResult(ctx, t, srv, "cad", 10)
	expect(ctx, t, srv, "GUEST-HEARD l1-says-hi")
	expect(ctx, t, srv, "L1-DONE")
	for _, bad := range []string{"GUEST-MODPROBE-FAILED", "XSAVE consistency problem", "CAD-BOOT-DIED", "GUEST-RO-WRITE-ACCEPTED", "RO-DISK-AFTER nope", "Kernel panic", "BUG:"} {
		if err := srv.Console.NotSeen(bad); err != nil {
			t.Error(err)
		}
	}
	if err := srv.Console.NotSeen("GUEST-RNG \r\n"); err != nil {
		t.Error(fmt.Errorf("virtio-rng gave no bytes: %w", err))
	}
}
