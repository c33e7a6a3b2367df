package racktest

import (
	"context"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// benchRounds is how many boots of each VMM the benchmark alternates.
const benchRounds = 3

// benchInit is the L1 /init of the comparison: it boots the same cloud
// kernel and initrd (which powers off at once when "benchoff" is on its
// command line) alternately under ironvisor and QEMU (microvm, KVM), and
// prints each run's wall time (from /proc/uptime) and peak RSS (busybox
// time -v).
const benchInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
modprobe kvm_amd || echo L1-MODPROBE-FAILED
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm)"
CMD="console=ttyS0 quiet reboot=k panic=-1 benchoff"
bench() {
	name=$1; shift
	t0=$(cut -d' ' -f1 /proc/uptime)
	time -v -o /tmp/tv "$@" >/dev/null 2>/tmp/err; rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "BENCH $name rc=$rc t0=$t0 t1=$t1 rss=$(grep 'Maximum resident' /tmp/tv | cut -d: -f2 | tr -d ' ')"
}
for i in $(seq ROUNDS); do
	bench ironvisor /bin/ironvisor vmm run --kernel /guest/vmlinuz --initrd /guest/initrd.gz --mem 128M --cmdline "$CMD i8042.noaux"
	bench qemu /usr/bin/qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128M -smp 1 -nodefaults -no-user-config -display none -serial stdio -no-reboot -L /usr/share/qemu -kernel /guest/vmlinuz -initrd /guest/initrd.gz -append "$CMD"
done
echo L1-DONE
poweroff -f
`

// busyboxRSSFactor corrects busybox time -v, which converts ru_maxrss (already
// in KiB) as if it were pages: it reports 4 times the peak RSS (measured: 100
// MiB dd shows 414912 KiB under busybox time, 104164 KiB under GNU time).
const busyboxRSSFactor = 4

// benchLine is one BENCH result.
var benchLine = regexp.MustCompile(`BENCH (\S+) rc=(\d+) t0=([0-9.]+) t1=([0-9.]+) rss=(\d*)\r?\n`)

// median returns the middle value (the lower middle for an even count).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[(len(s)-1)/2]
}

// BenchmarkVMMVersusQEMU boots the Debian cloud kernel to its immediate
// poweroff inside one L1 server, alternately under `ironvisor vmm run` and
// under QEMU's microvm with KVM, and reports the median wall time from exec
// to exit and the median peak RSS of each. Run it with
// `go test -run XXX -bench VMMVersusQEMU -benchtime 1x ./build/racktest`
// (make bench).
func BenchmarkVMMVersusQEMU(b *testing.B) {
	for b.Loop() {
		benchOnce(b)
	}
}

// benchOnce runs one L1 server with benchRounds boots of each VMM.
func benchOnce(b *testing.B) {
	set := artefactsOrSkip(b)
	overlay := vmmOverlayWith(b, set, strings.ReplaceAll(benchInit, "ROUNDS", strconv.Itoa(benchRounds)), gotest.QEMUEntries(b))
	// The artefacts' ironvisor may predate the tree: a later archive with
	// a fresh build overrides /bin/ironvisor.
	dir := b.TempDir()
	fresh := filepath.Join(dir, "ironvisor.gz")
	buildArchive(b, fresh, []initramfs.Entry{initramfs.HostFile("/bin/ironvisor", 0o755, buildCommand(b, dir, "ironvisor"))})
	ctx, cancel := context.WithTimeout(context.Background(), vmmTimeout)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "vmm-bench", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay, fresh},
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 2048, CPUs: 2, LogDir: dir,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.Console.Expect(ctx, "L1-READY /dev/kvm"); err != nil {
		b.Fatal(err)
	}
	wall := map[string][]float64{}
	rss := map[string][]float64{}
	for range 2 * benchRounds {
		m, err := srv.Console.ExpectRegexp(ctx, benchLine)
		if err != nil {
			b.Fatal(err)
		}
		if m[2] != "0" || m[5] == "" {
			b.Fatalf("%s run failed: %q\n%s", m[1], m[0], srv.Console.Tail(30))
		}
		t0, _ := strconv.ParseFloat(m[3], 64)
		t1, _ := strconv.ParseFloat(m[4], 64)
		kb, _ := strconv.ParseFloat(m[5], 64)
		wall[m[1]] = append(wall[m[1]], t1-t0)
		rss[m[1]] = append(rss[m[1]], kb/busyboxRSSFactor/1024)
	}
	for _, name := range []string{"ironvisor", "qemu"} {
		b.ReportMetric(median(wall[name]), name+"-boot-s")
		b.ReportMetric(median(rss[name]), name+"-rss-MiB")
		b.Logf("%s: wall %v s, peak RSS %v MiB", name, wall[name], rss[name])
	}
}
