package racktest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// l1BenchInit is the L1 /init of the in-L1 benchmarks: load kvm_amd, run
// this package's test binary (built with the rack tag) on one benchmark
// for a number of iterations, print its exit code and power off.
const l1BenchInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
modprobe kvm_amd || echo L1-MODPROBE-FAILED
` + gotest.PinKVM + `echo "L1-READY $(ls /dev/kvm)"
cd /tmp
/bin/racktest.test -test.run '^$' -test.bench '^BENCH$' -test.benchtime ROUNDSx -test.timeout 0 -test.v 2>&1
echo "L1-EXIT $?"
poweroff -f
`

// Where runInL1's overlay carries the ironvisor binary and the lean VMM
// binary (cmd/ironvisor-vmm), the one the appliance runs for each
// instance.
const (
	l1Ironvisor = "/bin/ironvisor"
	l1VMM       = "/bin/ironvisor-vmm"
)

// l1ExitLine ends an in-L1 benchmark run; a soft lockup of L1's kernel
// ends it too (nested TCG has frozen an L1 in KVM_RUN: both vCPUs stuck
// for minutes, seen once in about 100 tiny-guest starts).
var l1ExitLine = regexp.MustCompile(`L1-EXIT (\d+)\r?\n|(BUG: soft lockup[^\n]*)`)

// runInL1 boots one L1 server (2 vCPUs, 2 GiB) with busybox, kvm_amd,
// QEMU, an ironvisor built from this tree, this package's test binary and
// extra entries, runs the in-L1 benchmark bench for rounds iterations and
// returns the console once it exited 0.
func runInL1(b *testing.B, bench string, rounds int, timeout time.Duration, extra ...initramfs.Entry) string {
	b.Helper()
	set := artefactsOrSkip(b)
	if _, err := os.Stat(busyboxPath); err != nil {
		b.Skipf("SKIP: no static busybox at %s (apt-get install busybox-static): %v", busyboxPath, err)
	}
	dir := b.TempDir()
	testBin := filepath.Join(dir, "racktest.test")
	compileTests(b, "./build/racktest", testBin)
	init := strings.NewReplacer("BENCH", bench, "ROUNDS", strconv.Itoa(rounds)).Replace(l1BenchInit)
	l1 := []initramfs.Entry{
		initramfs.Console(),
		initramfs.HostFile("/bin/busybox", 0o755, busyboxPath),
		initramfs.File("/init", 0o755, []byte(init)),
		initramfs.HostFile(l1Ironvisor, 0o755, buildCommand(b, dir, "ironvisor")),
		initramfs.HostFile(l1VMM, 0o755, buildCommand(b, dir, "ironvisor-vmm")),
		initramfs.HostFile(gotest.KVMPinPath, 0o755, buildKVMPin(b, dir)),
		initramfs.HostFile("/bin/racktest.test", 0o755, testBin),
	}
	l1 = append(l1, gotest.QEMUEntries(b)...)
	l1 = append(l1, extra...)
	l1 = append(l1, guestinitrd.RootDirs()...)
	h := set.HostKernel
	// tun: the guest I/O benchmark's tap.
	l1 = append(l1, moduleEntries(b, h.ModulesDir(), h.Release, []string{"kvm_amd", "tun"})...)
	overlay := filepath.Join(dir, "l1-bench.gz")
	buildArchive(b, overlay, l1)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "vmm-bench-l1", Kernel: h.Vmlinuz(), Initrds: []string{overlay},
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 2048, CPUs: 2, ForwardPorts: []int{}, LogDir: dir,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.Console.Expect(ctx, "L1-READY /dev/kvm"); err != nil {
		b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
	}
	m, err := srv.Console.ExpectRegexp(ctx, l1ExitLine)
	if err != nil {
		b.Fatalf("%v\n%s", err, srv.Console.Tail(40))
	}
	if m[2] != "" {
		b.Fatalf("L1 froze (%s); retry the benchmark:\n%s", m[2], srv.Console.Tail(40))
	}
	if m[1] != "0" {
		b.Fatalf("in-L1 benchmark %s exited %s:\n%s", bench, m[1], srv.Console.Tail(60))
	}
	return srv.Console.String()
}

// buildCommand builds the static binary cmd/NAME from this tree as make
// build does and returns its path in dir.
func buildCommand(b testing.TB, dir, name string) string {
	b.Helper()
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(dir, name)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", out, "./cmd/"+name)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", name, err, o)
	}
	return out
}

// coldRounds is how many tiny-guest boots of each VMM the cold-start
// benchmark alternates.
const coldRounds = 15

// BenchmarkVMMColdStartVersusQEMU runs BenchmarkInL1ColdStart in one L1
// server: coldRounds boots of a tiny PVH guest with 128 MiB under each of
// the lean ironvisor-vmm (which the appliance runs), QEMU microvm (KVM)
// and `ironvisor vmm run` (the whole appliance binary), rotating. Each run
// is one result line, VMMColdStartVersusQEMU/vmm=NAME, with exec to first
// serial byte (wall and CPU) and the VMM's RSS without the guest RAM it
// touched, by kind; each round adds a line of ironvisor's values over
// QEMU's (ratio=ironvisor-qemu). build/bench/vmm-coldstart.md renders
// them. It also reports the medians and their ratio. Run it with
// `go test -run XXX -bench VMMColdStartVersusQEMU -benchtime 1x ./build/racktest`
// (make bench).
func BenchmarkVMMColdStartVersusQEMU(b *testing.B) {
	for b.Loop() {
		console := runInL1(b, "BenchmarkInL1ColdStart", coldRounds, 15*time.Minute)
		rs := gotest.RelayL1Results(b, os.Stdout, console, "VMMColdStartVersusQEMU")
		iv := gotest.L1Sample(rs, "VMMColdStartVersusQEMU/vmm=ironvisor", "ms-first-byte")
		q := gotest.L1Sample(rs, "VMMColdStartVersusQEMU/vmm=qemu", "ms-first-byte")
		if len(iv) != coldRounds || len(q) != coldRounds {
			b.Fatalf("got %d ironvisor and %d QEMU runs, want %d each:\n%s", len(iv), len(q), coldRounds, lastLines(console, 60))
		}
		b.ReportMetric(median(iv), "ironvisor-first-byte-ms")
		b.ReportMetric(median(q), "qemu-first-byte-ms")
		b.ReportMetric(median(iv)/median(q), "first-byte-ratio")
		b.ReportMetric(median(gotest.L1Sample(rs, "VMMColdStartVersusQEMU/vmm=ironvisor", "MiB-rss-less-guest")), "ironvisor-overhead-MiB")
		b.ReportMetric(median(gotest.L1Sample(rs, "VMMColdStartVersusQEMU/vmm=qemu", "MiB-rss-less-guest")), "qemu-overhead-MiB")
	}
}

// smapsHeader is the first line of one mapping in /proc/PID/smaps:
// "start-end perms offset dev inode [path]".
var smapsHeader = regexp.MustCompile(`^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$`)

// mapping is one entry of /proc/PID/smaps, sizes in KiB.
type mapping struct {
	path      string // "" for anonymous memory
	inode     string
	size, rss int64
}

// parseSmaps returns the mappings in /proc/PID/smaps contents.
func parseSmaps(b []byte) ([]mapping, error) {
	var ms []mapping
	for _, line := range strings.Split(string(b), "\n") {
		if m := smapsHeader.FindStringSubmatch(line); m != nil {
			ms = append(ms, mapping{inode: m[1], path: m[2]})
			continue
		}
		f := strings.Fields(line)
		if len(ms) == 0 || len(f) != 3 || f[2] != "kB" || (f[0] != "Size:" && f[0] != "Rss:") {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps line %q: %v", line, err)
		}
		if f[0] == "Size:" {
			ms[len(ms)-1].size = v
		} else {
			ms[len(ms)-1].rss = v
		}
	}
	return ms, nil
}

// guestSplit returns the total Rss of ms and the Rss of the guest RAM: the
// anonymous mappings exactly guestKiB long. It fails if there is none.
func guestSplit(ms []mapping, guestKiB int64) (total, guest int64, err error) {
	found := false
	for _, m := range ms {
		total += m.rss
		if m.isGuest(guestKiB) {
			guest += m.rss
			found = true
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("no anonymous mapping of %d KiB (guest RAM) in smaps", guestKiB)
	}
	return total, guest, nil
}

// isGuest tells whether m is guest RAM of guestKiB.
func (m mapping) isGuest(guestKiB int64) bool {
	return m.inode == "0" && m.path == "" && m.size == guestKiB
}

// breakdown sums the Rss of ms outside the guest RAM by kind, in KiB: the
// executable's own file pages (exe), shared libraries (libs), anonymous
// memory (anon: heap, stacks, named anonymous mappings) and the rest (other: KVM's per-vCPU pages,
// vdso, firmware files).
func breakdown(ms []mapping, exe string, guestKiB int64) map[string]int64 {
	out := map[string]int64{}
	for _, m := range ms {
		switch {
		case m.isGuest(guestKiB):
		case m.path == exe:
			out["exe"] += m.rss
		case strings.Contains(m.path, ".so"):
			out["libs"] += m.rss
		case m.path == "" || m.path == "[heap]" || strings.HasPrefix(m.path, "[stack") || strings.HasPrefix(m.path, "[anon:"):
			out["anon"] += m.rss
		default:
			out["other"] += m.rss
		}
	}
	return out
}

// TestParseSmaps checks the guest-RAM split on an excerpt of a real QEMU
// smaps: the 128 MiB anonymous mapping is the guest, a file mapping of the
// same size and other anonymous mappings are not.
func TestParseSmaps(t *testing.T) {
	smaps := `557dbd679000-557dbda80000 r--p 00000000 fe:00 10166322                   /usr/bin/qemu-system-x86_64
Size:               4124 kB
Rss:                4124 kB
557de58b3000-557de633c000 rw-p 00000000 00:00 0                          [heap]
Size:              10788 kB
Rss:                4448 kB
7f2193e00000-7f219be00000 rw-p 00000000 00:00 0 
Size:             131072 kB
KernelPageSize:        4 kB
Rss:                2048 kB
Pss:                2048 kB
7f21a0000000-7f21a8000000 r--p 00000000 fe:00 42                   /tmp/disk.img
Size:             131072 kB
Rss:                 100 kB
7f21e2400000-7f21e2c00000 rw-p 00000000 00:00 0 
Size:               8192 kB
Rss:                   8 kB
`
	ms, err := parseSmaps([]byte(smaps))
	if err != nil {
		t.Fatal(err)
	}
	total, guest, err := guestSplit(ms, 128<<10)
	if err != nil || total != 4124+4448+2048+100+8 || guest != 2048 {
		t.Errorf("guestSplit = %d, %d, %v; want %d, 2048, nil", total, guest, err, 4124+4448+2048+100+8)
	}
	if _, _, err := guestSplit(ms, 256<<10); err == nil {
		t.Error("no error without a guest-sized mapping")
	}
	got := breakdown(ms, "/usr/bin/qemu-system-x86_64", 128<<10)
	want := map[string]int64{"exe": 4124, "anon": 4448 + 8, "other": 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("breakdown = %v, want %v", got, want)
	}
}
