package racktest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
)

// The sibling's configuration, as the bootstrap server hands it out.
const (
	siblingName = "sibling"
	siblingAddr = "10.77.0.20"
	siblingAPI  = siblingAddr + ":8080"
)

// rackBootTimeout bounds one rack scenario: the bootstrap server's boot,
// then the sibling's network boot (its initramfs crosses the emulated
// rack segment uncompressed).
const rackBootTimeout = 10 * time.Minute

// startBootstrap boots the bootstrap server as the rack boots appliances
// (direct kernel, uplink with the API forwarded) with rack bootstrap on,
// its second NIC on seg, and returns it with an admin client.
func startBootstrap(ctx context.Context, t testing.TB, set *artefacts.Set, seg *rack.Segment) (*rack.Server, *rack.API) {
	t.Helper()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "rackboot", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Append:    "console=ttyS0 ironvisor.hostname=rackboot ironvisor.rack=on ironvisor.watchdog=off",
		MemoryMiB: 1024, CPUs: 1, LogDir: t.TempDir(), Segment: seg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
		t.Fatalf("bootstrap: no banner: %v\n%s", err, srv.Console.Tail(40))
	}
	if !strings.Contains(srv.Console.String(), "rack: serving DHCP, TFTP and HTTP on") {
		t.Fatalf("bootstrap does not serve its rack:\n%s", srv.Console.Tail(60))
	}
	b, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.API(8080, b.Fingerprint, b.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	mac := rack.SegmentMAC(siblingName)
	var m apiv1.RackMachine
	err = a.SendJSON(ctx, "PUT", "/v1/rack/machines/"+mac, apiv1.RackMachineRequest{
		Address: siblingAddr, Hostname: "rack-sibling", API: siblingAPI, Data: "tmpfs",
		PublicIPs: "203.0.113.40/30", Cmdline: "ironvisor.watchdog=off",
	}, &m)
	if err != nil || m.Address != siblingAddr {
		t.Fatalf("configure the sibling: %+v, %v", m, err)
	}
	return srv, a
}

// siblingBoot is one boot of the sibling: over the network from the
// bootstrap server (pxe), or from -kernel with the same command line.
type siblingBoot struct {
	srv    *rack.Server
	script time.Duration // QEMU start to the iPXE script running (pxe)
	ready  time.Duration // QEMU start to IRONVISOR READY
	api    string        // the API URL on the banner
}

// bootSibling starts the diskless sibling on seg (its only NIC) and waits
// for its banner. Direct boot passes the kernel, the image and the
// command line the bootstrap server's script would.
func bootSibling(ctx context.Context, t testing.TB, set *artefacts.Set, seg *rack.Segment, pxe bool) siblingBoot {
	t.Helper()
	o := rack.Options{Name: siblingName, NoUplink: true, Segment: seg, MemoryMiB: 1024, CPUs: 1, LogDir: t.TempDir()}
	if pxe {
		o.Boot = "n"
	} else {
		o.Kernel, o.Initrds = set.HostKernel.Vmlinuz(), []string{set.InitramfsPath()}
		o.Append = "console=ttyS0 ironvisor.hostname=rack-sibling ironvisor.api=" + siblingAPI +
			" ironvisor.data=tmpfs ironvisor.public_ips=203.0.113.40/30 ironvisor.watchdog=off"
	}
	start := time.Now()
	srv, err := rack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	sb := siblingBoot{srv: srv}
	if pxe {
		if err := srv.Console.Expect(ctx, "Ironvisor rack boot: "+rack.SegmentMAC(siblingName)); err != nil {
			t.Fatalf("sibling: iPXE did not run the bootstrap server's script: %v\n%s", err, srv.Console.Tail(40))
		}
		sb.script = time.Since(start)
	}
	m, err := srv.Console.ExpectRegexp(ctx, readyLine)
	if err != nil {
		t.Fatalf("sibling: no banner: %v\n%s", err, srv.Console.Tail(60))
	}
	sb.ready, sb.api = time.Since(start), m[1]
	return sb
}

// TestRackBootstrapPXE: a bootstrap server (ironvisor.rack=on) and a
// diskless sibling share a rack segment; the sibling's firmware (SeaBIOS
// and the NIC's iPXE) gets its lease and script from the bootstrap
// server, boots the bootstrap server's own kernel and image over HTTP, and
// its API answers on the address the bootstrap server gave it, as the
// bootstrap server sees over the rack network. Its negative twin: before
// the sibling boots, nothing answers there.
func TestRackBootstrapPXE(t *testing.T) {
	t.Parallel()
	set := artefactsOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), rackBootTimeout)
	defer cancel()
	seg := rack.NewSegment(t.Name())
	boot, a := startBootstrap(ctx, t, set, seg)
	mac := rack.SegmentMAC(siblingName)
	var m apiv1.RackMachine
	if err := a.GetJSON(ctx, "/v1/rack/machines/"+mac+"?check=true", &m); err != nil {
		t.Fatal(err)
	}
	if m.APICheck == nil || m.APICheck.Answered {
		t.Fatalf("before the sibling boots, its API check = %+v; want no answer", m.APICheck)
	}
	sb := bootSibling(ctx, t, set, seg, true)
	t.Logf("sibling: iPXE script after %.1fs, IRONVISOR READY after %.1fs (API %s)", sb.script.Seconds(), sb.ready.Seconds(), sb.api)
	if !strings.Contains(sb.api, siblingAPI) {
		t.Errorf("sibling's API is %s, want it on %s", sb.api, siblingAPI)
	}
	con := sb.srv.Console.String()
	for _, want := range []string{"on rack-sibling", "ironvisor.public_ips=203.0.113.40/30"} {
		if !strings.Contains(con, want) {
			t.Errorf("sibling console lacks %q", want)
		}
	}
	m = apiv1.RackMachine{}
	if err := a.GetJSON(ctx, "/v1/rack/machines/"+mac+"?check=true", &m); err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap's view: %+v, check %+v", m, m.APICheck)
	if c := m.APICheck; c == nil || !c.Answered || c.Status != 401 || c.Error != "" || !strings.Contains(c.URL, siblingAPI) {
		t.Errorf("the sibling's API did not answer at %s over the rack network: %+v", siblingAPI, c)
	}
	if m.LastBoot.IsZero() || m.LastDHCP.IsZero() {
		t.Errorf("bootstrap recorded no boot or DHCP of the sibling: %+v", m)
	}
	if err := boot.Console.NotSeen("Kernel panic"); err != nil {
		t.Error(err)
	}
}

// BenchmarkRackPXEBoot measures the sibling's boot to READY over the
// network from the bootstrap server against the same sibling booted from
// -kernel with the same command line, on the same rack segment with the
// same bootstrap server (its DHCP gives both the same lease), alternating,
// IRONVISOR_RACK_ROUNDS times (default 2). It prints "ROW: " lines.
func BenchmarkRackPXEBoot(b *testing.B) {
	set := artefactsOrSkip(b)
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("IRONVISOR_RACK_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*2*rackBootTimeout)
	defer cancel()
	seg := rack.NewSegment(b.Name())
	startBootstrap(ctx, b, set, seg)
	var pxe, direct, script []float64
	for range b.N {
		for r := 0; r < rounds; r++ {
			for _, net := range []bool{true, false} {
				sb := bootSibling(ctx, b, set, seg, net)
				sb.srv.Stop()
				if net {
					pxe, script = append(pxe, sb.ready.Seconds()), append(script, sb.script.Seconds())
				} else {
					direct = append(direct, sb.ready.Seconds())
				}
				b.Logf("round %d pxe=%v: READY after %.1fs", r+1, net, sb.ready.Seconds())
			}
		}
	}
	mp, md := median(pxe), median(direct)
	fmt.Printf("ROW: | direct kernel (-kernel, -initrd: the gzip image) | %d | %.1f s | %s |\n", len(direct), md, secondsList(direct))
	fmt.Printf("ROW: | PXE from the bootstrap server (iPXE script at median %.1f s) | %d | %.1f s | %s |\n", median(script), len(pxe), mp, secondsList(pxe))
	fmt.Printf("ROW: | ratio PXE / direct | | %.2f | |\n", mp/md)
}

// secondsList formats seconds for a table cell.
func secondsList(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(s, ", ")
}

// TestWatchdogResetsFrozenPID1: with QEMU's i6300esb and a 10 s timeout,
// the appliance's PID 1 is frozen by its test hook once ready
// (ironvisor.test_hook=freeze-pid1, the cgroup freezer: the kernel
// ignores SIGSTOP for PID 1); the watchdog, no longer petted, resets the
// server, and the kernel boots again. Its negative twin is every other
// rack boot: armed and petted, no reset.
func TestWatchdogResetsFrozenPID1(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	srv := startAppliance(ctx, t, "wdog", "ironvisor.watchdog=10 ironvisor.test_hook=freeze-pid1",
		[]string{"-device", "i6300esb"})
	if !strings.Contains(srv.Console.String(), "hardware watchdog /dev/watchdog armed: 10s timeout") {
		t.Fatalf("watchdog not armed with 10s:\n%s", srv.Console.Tail(40))
	}
	if err := srv.Console.Expect(ctx, "IRONVISOR TEST HOOK freeze-pid1: freezing PID 1"); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	// The kernel's first line after the reset: the box boots again.
	if err := srv.Console.Expect(ctx, "Linux version"); err != nil {
		t.Fatalf("no reset after PID 1 froze: %v", err)
	}
	t.Logf("reset %.1fs after PID 1 froze (timeout 10 s)", time.Since(frozen).Seconds())
	if d := time.Since(frozen); d < 5*time.Second {
		t.Errorf("reset after %v: before the watchdog could have fired", d)
	}
}
