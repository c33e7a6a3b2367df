package racktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// The guest I/O benchmark's network and disk, inside the L1 server: the
// tap both VMMs attach to, the L1's address on it (where the guestio peer
// listens), the guest's address and MAC, and the raw disk's size.
const (
	gioTapName  = "giotap0"
	gioPeerIP   = "10.0.2.1"
	gioPeerPort = "5201"
	gioGuestIP  = "10.0.2.2"
	gioGuestMAC = "52:54:00:12:34:56"
	gioDiskMiB  = 128
	l1GioInitrd = "/guest/gio-initrd.gz"
)

// gioSeconds is how long each guest test runs.
const gioSeconds = 10

// gioRounds is how many guest I/O boots of each VMM the benchmark
// alternates; IRONVISOR_GIO_ROUNDS overrides it.
const gioRounds = 3

// gioGuestInit is the /init of the guest I/O guest: load the virtio
// drivers, give eth0 the guest's address, run the four guestio tests and
// power off.
const gioGuestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo GUEST-INIT-OK
for m in virtio_mmio virtio_blk virtio_net; do modprobe $m || echo GUEST-MODPROBE-FAILED $m; done
ip link set lo up
ip addr add @GUEST@/24 dev eth0 && ip link set eth0 up || echo GUEST-IO-FAILED eth0
for t in randread tx rx rr; do
	/bin/guestio $t -dev /dev/vda -depth 16 -bs 4096 -peer @PEER@ -for @SECS@s 2>&1 || echo GUEST-IO-FAILED test=$t
done
echo GUEST-IO-DONE
poweroff -f
`

// gioInitrd builds the guest I/O guest's busybox initrd: the cloud
// kernel's virtio-mmio, virtio-blk and virtio-net modules and the static
// guestio command.
func gioInitrd(b *testing.B, set *artefacts.Set) string {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "guestio")
	if err := gotest.Build(context.Background(), "github.com/ironvisor/ironvisor/build/rack/guestio/cmd/guestio", bin); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "gio-initrd.gz")
	init := strings.NewReplacer("@GUEST@", gioGuestIP, "@PEER@", gioPeerIP+":"+gioPeerPort,
		"@SECS@", strconv.Itoa(gioSeconds)).Replace(gioGuestInit)
	err := guestinitrd.Write(path, guestinitrd.Spec{
		Init: init, Kernel: set.GuestKernel, Modules: []string{"virtio_mmio", "virtio_blk", "virtio_net"},
		Files: []initramfs.Entry{initramfs.HostFile("/bin/guestio", 0o755, bin)},
	})
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkVMMGuestIOVersusQEMU runs BenchmarkInL1GuestIO in one L1
// server: gioRounds boots of the Debian cloud kernel under each of
// ironvisor-vmm and QEMU microvm (KVM, vhost=off), alternating, on the
// same tap and the same raw file in L1's tmpfs; each guest runs 4 KiB
// random O_DIRECT reads at queue depth 16, TCP guest to L1 and L1 to
// guest, and a one-byte TCP ping-pong, gioSeconds each. Each run is one
// result line, VMMGuestIOVersusQEMU/vmm=NAME, and each round where both
// VMMs completed one more with ironvisor's ratios to QEMU
// (ratio=ironvisor-qemu; for a latency QEMU's over ironvisor's, so that
// above 1 is better for every value); build/bench/vmm-gio.md renders
// them. It reports the stalled boots and the rounds both VMMs completed.
// Run it with
// `go test -run XXX -bench VMMGuestIOVersusQEMU -benchtime 1x ./build/racktest`
// (make bench).
func BenchmarkVMMGuestIOVersusQEMU(b *testing.B) {
	set, err := artefacts.FromEnv()
	if err != nil {
		b.Skipf("SKIP: artefacts not built; run make test (%v)", err)
	}
	rounds := gioRounds
	if s := os.Getenv("IRONVISOR_GIO_ROUNDS"); s != "" {
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("IRONVISOR_GIO_ROUNDS=%q: want a positive number", s)
		}
	}
	for b.Loop() {
		console := runInL1(b, "BenchmarkInL1GuestIO", rounds, 60*time.Minute,
			initramfs.HostFile("/guest/vmlinuz", 0o644, set.GuestKernel.Vmlinuz()),
			initramfs.HostFile(l1GioInitrd, 0o644, gioInitrd(b, set)))
		reportStalls(b, gotest.RelayL1Results(b, os.Stdout, console, "VMMGuestIOVersusQEMU"), "VMMGuestIOVersusQEMU", rounds)
	}
}

// gioTestLine is one guestio result on the guest's console: the test and
// its key=value figures.
var gioTestLine = regexp.MustCompile(`GUEST-IO test=(\w+)((?: \w+=[0-9.]+)+)`)

// gioUnits are the benchmark units of the guestio figures, by the
// figure's test_key name.
var gioUnits = []struct{ key, unit string }{
	{"randread_iops", "iops-randread"},
	{"tx_mbs", "mbps-tx"},
	{"rx_mbs", "mbps-rx"},
	{"rr_p50_us", "us-rr-p50"},
	{"rr_p99_us", "us-rr-p99"},
}

// parseGuestIO returns the results of one guest I/O guest's console as
// benchmark values (gioUnits); a failed test or a missing or malformed
// figure is an error.
func parseGuestIO(console []string) ([]benchfmt.Value, error) {
	got := map[string]string{}
	for _, line := range console {
		if strings.Contains(line, "GUEST-IO-FAILED") {
			return nil, fmt.Errorf("guest test failed: %q\n%s", line, strings.Join(console, "\n"))
		}
		m := gioTestLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, kv := range strings.Fields(m[2]) {
			k, v, _ := strings.Cut(kv, "=")
			got[m[1]+"_"+k] = v
		}
	}
	var out []benchfmt.Value
	for _, u := range gioUnits {
		v, err := strconv.ParseFloat(got[u.key], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %v in:\n%s", u.key, err, strings.Join(console, "\n"))
		}
		out = append(out, benchfmt.Value{Value: v, Unit: u.unit})
	}
	return out, nil
}

func TestParseGuestIO(t *testing.T) {
	console := []string{
		"GUEST-INIT-OK",
		"[    1.2] virtio_net virtio1 eth0: renamed",
		"GUEST-IO test=randread iops=1234 reads=12340",
		"GUEST-IO test=tx mbs=56.7 bytes=567000000",
		"\rGUEST-IO test=rx mbs=89.0 bytes=890000000\r",
		"GUEST-IO test=rr p50_us=321 p99_us=999 count=3000",
		"GUEST-IO-DONE",
	}
	got, err := parseGuestIO(console)
	want := []benchfmt.Value{{Value: 1234, Unit: "iops-randread"}, {Value: 56.7, Unit: "mbps-tx"},
		{Value: 89, Unit: "mbps-rx"}, {Value: 321, Unit: "us-rr-p50"}, {Value: 999, Unit: "us-rr-p99"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if _, err := parseGuestIO(append(console[:3:3], "GUEST-IO-FAILED test=tx")); err == nil {
		t.Fatal("a failed test was accepted")
	}
	if _, err := parseGuestIO(console[:4]); err == nil {
		t.Fatal("missing figures were accepted")
	}
}
