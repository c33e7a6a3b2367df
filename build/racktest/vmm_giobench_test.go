package racktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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

// gioLine is one in-L1 guest I/O run; gioStallLine one boot that stalled
// before the guest's /init.
var (
	gioLine      = regexp.MustCompile(`GIO vmm=(\w+) round=(\d+) randread_iops=([0-9.]+) tx_mbs=([0-9.]+) rx_mbs=([0-9.]+) rr_p50_us=([0-9.]+) rr_p99_us=([0-9.]+)`)
	gioStallLine = regexp.MustCompile(`GIO-STALL vmm=(\w+) round=(\d+) attempt=(\d+)`)
)

// BenchmarkVMMGuestIOVersusQEMU runs BenchmarkInL1GuestIO in one L1
// server: gioRounds boots of the Debian cloud kernel under each of
// ironvisor-vmm and QEMU microvm (KVM, vhost=off), alternating, on the
// same tap and the same raw file in L1's tmpfs; each guest runs 4 KiB
// random O_DIRECT reads at queue depth 16, TCP guest to L1 and L1 to
// guest, and a one-byte TCP ping-pong, gioSeconds each. It reports the
// medians of each and ironvisor's ratio to QEMU (for latency, QEMU's p50
// over ironvisor's, so that above 1 is better for every row). Run it with
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
		reportGuestIO(b, console, rounds)
	}
}

// gioMetrics are the rows of the table, in the order of gioLine's numbers.
var gioMetrics = []struct {
	name, unit, key string
	lowerBetter     bool
}{
	{"4 KiB random reads, O_DIRECT, queue depth 16", "IOPS", "randread-iops", false},
	{"TCP guest to host", "MB/s", "tx-MB/s", false},
	{"TCP host to guest", "MB/s", "rx-MB/s", false},
	{"TCP request/response, 1 byte, p50", "µs", "rr-p50-us", true},
	{"TCP request/response, 1 byte, p99", "µs", "rr-p99-us", true},
}

// reportGuestIO parses the GIO lines and reports medians and ratios over
// the rounds that both VMMs completed. It logs the table rows that
// build/bench/vmm-gio.sh prints, each after "ROW:", and the stall count
// after "STALLS:".
func reportGuestIO(b *testing.B, console string, rounds int) {
	runs := map[int]map[string][]float64{}
	for _, m := range gioLine.FindAllStringSubmatch(console, -1) {
		round, _ := strconv.Atoi(m[2])
		v := make([]float64, len(gioMetrics))
		for i := range v {
			v[i], _ = strconv.ParseFloat(m[3+i], 64)
		}
		if runs[round] == nil {
			runs[round] = map[string][]float64{}
		}
		runs[round][m[1]] = v
	}
	stalls := map[string]int{}
	for _, m := range gioStallLine.FindAllStringSubmatch(console, -1) {
		stalls[m[1]]++
	}
	iv, q := make([][]float64, len(gioMetrics)), make([][]float64, len(gioMetrics))
	completed, paired := 0, 0
	for round := range rounds {
		completed += len(runs[round])
		a, ok1 := runs[round]["ironvisor"]
		c, ok2 := runs[round]["qemu"]
		if !ok1 || !ok2 {
			continue
		}
		paired++
		for i := range gioMetrics {
			iv[i], q[i] = append(iv[i], a[i]), append(q[i], c[i])
		}
	}
	b.Logf("STALLS: %d of %d boots stalled before /init (ironvisor %d, QEMU %d); %d of %d rounds had both VMMs complete",
		stalls["ironvisor"]+stalls["qemu"], completed+stalls["ironvisor"]+stalls["qemu"], stalls["ironvisor"], stalls["qemu"],
		paired, rounds)
	if paired == 0 {
		b.Fatal("no round where both VMMs completed")
	}
	for i, m := range gioMetrics {
		// The ratio is ironvisor's speed relative to QEMU's: for a
		// latency, QEMU's time over ironvisor's.
		num, den := iv[i], q[i]
		if m.lowerBetter {
			num, den = q[i], iv[i]
		}
		b.Logf("ROW: | %s | %s | %s | %s | %s | %s | %s |", m.name,
			fmt.Sprintf("%.1f %s", median(iv[i]), m.unit), fmt.Sprintf("%.1f %s", median(q[i]), m.unit),
			ratioOfMedians(num, den), pairedRatio(num, den), list(iv[i]), list(q[i]))
		b.ReportMetric(median(iv[i]), "ironvisor-"+m.key)
		b.ReportMetric(median(q[i]), "qemu-"+m.key)
	}
}

// gioTestLine is one guestio result on the guest's console: the test and
// its key=value figures.
var gioTestLine = regexp.MustCompile(`GUEST-IO test=(\w+)((?: \w+=[0-9.]+)+)`)

// parseGuestIO returns the results of one guest I/O guest's console as
// "randread_iops=N tx_mbs=N rx_mbs=N rr_p50_us=N rr_p99_us=N"; a failed
// test or a missing figure is an error.
func parseGuestIO(console []string) (string, error) {
	got := map[string]string{}
	for _, line := range console {
		if strings.Contains(line, "GUEST-IO-FAILED") {
			return "", fmt.Errorf("guest test failed: %q\n%s", line, strings.Join(console, "\n"))
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
	var out []string
	for _, k := range []string{"randread_iops", "tx_mbs", "rx_mbs", "rr_p50_us", "rr_p99_us"} {
		if got[k] == "" {
			return "", fmt.Errorf("no %s in:\n%s", k, strings.Join(console, "\n"))
		}
		out = append(out, k+"="+got[k])
	}
	return strings.Join(out, " "), nil
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
	want := "randread_iops=1234 tx_mbs=56.7 rx_mbs=89.0 rr_p50_us=321 rr_p99_us=999"
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if !gioLine.MatchString("GIO vmm=qemu round=1 " + got) {
		t.Fatalf("gioLine does not match the result %q", got)
	}
	if _, err := parseGuestIO(append(console[:3:3], "GUEST-IO-FAILED test=tx")); err == nil {
		t.Fatal("a failed test was accepted")
	}
	if _, err := parseGuestIO(console[:4]); err == nil {
		t.Fatal("missing figures were accepted")
	}
}
