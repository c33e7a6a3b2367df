//go:build rack

package racktest

// The L1 side of the tiny-guest and virtio-blk benchmarks: these benchmarks
// run inside an L1 rack server (real KVM under nested SVM), started by
// BenchmarkVMMColdStartVersusQEMU and BenchmarkVMMBlockVersusQEMU on the
// host with this package's test binary at /bin/racktest.test. They print
// one line per VMM run, which the host side parses; they skip anywhere
// without /dev/kvm and the binaries the L1 overlay carries.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/appliance/supervisor"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// Paths in the L1 overlay (see l1BenchOverlay).
const (
	l1QEMU      = "/usr/bin/qemu-system-x86_64"
	l1Kernel    = "/guest/vmlinuz"
	l1BlkInitrd = "/guest/blk-initrd.gz"
)

// Deadlines of one VMM run in L1.
const (
	// coldDeadline bounds exec to the tiny guest's whole marker line.
	coldDeadline = time.Minute
	// blkInitDeadline bounds exec to the cloud kernel's /init; a boot
	// that misses it is the intermittent stall, killed and retried.
	blkInitDeadline = 90 * time.Second
	// blkDeadline bounds a whole throughput run, boot included.
	blkDeadline = 6 * time.Minute
	// blkAttempts is how many boots one VMM gets per round.
	blkAttempts = 3
)

// idleBeforeRSS is how long the tiny guest idles before its VMM's memory
// is read.
const idleBeforeRSS = time.Second

// tinyMemMiB is the tiny guest's RAM.
const tinyMemMiB = 128

// needL1 skips b unless it runs in the benchmark's L1 server.
func needL1(b *testing.B, files ...string) {
	b.Helper()
	for _, f := range append([]string{"/dev/kvm", l1Ironvisor, l1VMM, l1QEMU}, files...) {
		if _, err := os.Stat(f); err != nil {
			b.Skipf("SKIP: runs inside the rack's L1 server (started by the host-side benchmark): %v", err)
		}
	}
}

// tinyArgv returns the command lines that boot the tiny guest at kernel
// with tinyMemMiB of RAM, serial console on stdout: ironvisor (the lean
// ironvisor-vmm that the appliance runs), QEMU, and `ironvisor vmm run`
// (the same VMM code in the whole appliance binary).
func tinyArgv(kernel string) map[string][]string {
	mem := strconv.Itoa(tinyMemMiB) + "M"
	return map[string][]string{
		"ironvisor": {l1VMM, "run", "--kernel", kernel, "--mem", mem},
		"qemu": {l1QEMU, "-M", "microvm", "-enable-kvm", "-cpu", "qemu64", "-m", mem, "-nodefaults",
			"-no-user-config", "-display", "none", "-serial", "stdio", "-L", "/usr/share/qemu", "-kernel", kernel},
		"appliance-binary": {l1Ironvisor, "vmm", "run", "--kernel", kernel, "--mem", mem},
	}
}

// vmmOrder rotates which VMM goes first, round by round: ironvisor, then
// QEMU, then any other in argv.
func vmmOrder(round int, argv map[string][]string) []string {
	names := []string{"ironvisor", "qemu"}
	if _, ok := argv["appliance-binary"]; ok {
		names = append(names, "appliance-binary")
	}
	k := round % len(names)
	return append(names[k:], names[:k]...)
}

// BenchmarkInL1ColdStart boots the tiny PVH guest (prints a marker, then
// halts with interrupts off) once per iteration under each VMM, alternating
// which goes first, and prints for each run: wall time from exec to the
// first serial byte on its stdout pipe, CPU time of all its threads up to
// that byte (/proc/PID/task/*/schedstat, nanoseconds), and, once the marker
// line is complete and the guest has idled for idleBeforeRSS, its total
// RSS, the RSS of the guest-RAM mapping and the rest by kind
// (/proc/PID/smaps).
func BenchmarkInL1ColdStart(b *testing.B) {
	needL1(b)
	marker := "TINY\n"
	kernel := filepath.Join(b.TempDir(), "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello(marker, testutil.ExitHalt), 0o644); err != nil {
		b.Fatal(err)
	}
	argv := tinyArgv(kernel)
	for round := 0; b.Loop(); round++ {
		vals := map[string][]benchfmt.Value{}
		for _, name := range vmmOrder(round, argv) {
			r, err := coldRun(argv[name], marker)
			if err != nil {
				b.Fatalf("%s round %d: %v", name, round, err)
			}
			vals[name] = r.values()
		}
		for _, name := range vmmOrder(0, argv) {
			gotest.L1Result("VMMColdStartVersusQEMU/vmm="+name, vals[name]...)
		}
		// The round's ratios, ironvisor over QEMU, measure by measure.
		ratios := slices.Clone(vals["ironvisor"])
		for i, q := range vals["qemu"] {
			ratios[i].Value /= q.Value
		}
		gotest.L1Result("VMMColdStartVersusQEMU/ratio=ironvisor-qemu", ratios...)
	}
}

// values are the measures of one run as benchmark values: milliseconds
// and MiB.
func (r coldResult) values() []benchfmt.Value {
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	return []benchfmt.Value{
		{Value: ms(r.first), Unit: "ms-first-byte"},
		{Value: ms(r.cpu), Unit: "ms-cpu-to-first-byte"},
		{Value: mib(r.rssKiB - r.guestKiB), Unit: "MiB-rss-less-guest"},
		{Value: mib(r.kinds["exe"]), Unit: "MiB-exe"},
		{Value: mib(r.kinds["libs"]), Unit: "MiB-libs"},
		{Value: mib(r.kinds["anon"]), Unit: "MiB-anon"},
		{Value: mib(r.kinds["other"]), Unit: "MiB-other"},
		{Value: mib(r.guestKiB), Unit: "MiB-guest"},
	}
}

// coldResult is one tiny-guest run.
type coldResult struct {
	first, cpu       time.Duration
	rssKiB, guestKiB int64
	kinds            map[string]int64 // Rss by kind, KiB
}

// piped is a VMM process whose stdout is a pipe.
type piped struct {
	cmd    *exec.Cmd
	out    *os.File     // the read end of its stdout
	t0     time.Time    // just before the exec
	stderr bytes.Buffer // its standard error
}

// startPiped starts argv with its stdout on a pipe.
func startPiped(argv []string) (*piped, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &piped{cmd: exec.Command(argv[0], argv[1:]...), out: r}
	p.cmd.Stdout, p.cmd.Stderr = w, &p.stderr
	// The environment the appliance's supervisor gives its VMMs (QEMU
	// ignores it).
	p.cmd.Env = append(os.Environ(), supervisor.VMMEnv...)
	p.t0 = time.Now()
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	return p, nil
}

// kill ends the process, reaps it and closes the pipe.
func (p *piped) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.out.Close()
}

// coldRun runs one tiny guest to its idle loop and measures it.
func coldRun(argv []string, marker string) (coldResult, error) {
	var res coldResult
	p, err := startPiped(argv)
	if err != nil {
		return res, err
	}
	defer p.kill()
	if err := p.out.SetReadDeadline(p.t0.Add(coldDeadline)); err != nil {
		return res, err
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(p.out, first); err != nil {
		return res, fmt.Errorf("no serial byte: %v; stderr: %s", err, p.stderr.Bytes())
	}
	res.first = time.Since(p.t0)
	if res.cpu, err = taskCPU(p.cmd.Process.Pid); err != nil {
		return res, err
	}
	rest, err := bufio.NewReader(p.out).ReadString('\n')
	if got := string(first) + rest; got != marker || err != nil {
		return res, fmt.Errorf("console %q (%v), want %q; stderr: %s", got, err, marker, p.stderr.Bytes())
	}
	// Memory is a steady-state figure: the VMM's own start-up work (the
	// garbage collection it triggers after loading, for one) is over once
	// the guest has idled for idleBeforeRSS.
	time.Sleep(idleBeforeRSS)
	res.rssKiB, res.guestKiB, res.kinds, err = smapsRSS(p.cmd.Process.Pid, argv[0], tinyMemMiB<<10)
	return res, err
}

// taskCPU returns the CPU time of every live thread of pid, from the first
// field of /proc/PID/task/TID/schedstat (nanoseconds on the CPU).
func taskCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("schedstat of %d: %v (%d threads)", pid, err, len(tasks))
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: empty", t)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", t, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// smapsRSS reads /proc/PID/smaps and returns the total Rss and that of the
// guest RAM (see guestSplit), and the Rss by kind (see breakdown).
func smapsRSS(pid int, exe string, guestKiB int64) (total, guest int64, kinds map[string]int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, 0, nil, err
	}
	ms, err := parseSmaps(b)
	if err != nil {
		return 0, 0, nil, err
	}
	total, guest, err = guestSplit(ms, guestKiB)
	return total, guest, breakdown(ms, exe, guestKiB), err
}

// blkArgv returns the two command lines that boot the cloud kernel with the
// throughput initrd and disk as their virtio-blk disk: ironvisor's virtio-blk
// (buffered preadv/pwritev, flush = fdatasync) and QEMU's virtio-blk-device
// on microvm with cache=writeback (host page cache, flush = fdatasync) and
// aio=threads.
func blkArgv(disk string) map[string][]string {
	cmdline := "console=ttyS0 quiet reboot=k panic=-1"
	return map[string][]string{
		"ironvisor": {l1VMM, "run", "--kernel", l1Kernel, "--initrd", l1BlkInitrd, "--mem", "256M",
			"--disk", disk, "--cmdline", cmdline + " i8042.noaux"},
		"qemu": {l1QEMU, "-M", "microvm", "-enable-kvm", "-cpu", "host", "-m", "256M", "-smp", "1", "-nodefaults",
			"-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot", "-L", "/usr/share/qemu",
			"-kernel", l1Kernel, "-initrd", l1BlkInitrd, "-append", cmdline,
			"-drive", "id=d0,if=none,format=raw,cache=writeback,aio=threads,file=" + disk,
			"-device", "virtio-blk-device,drive=d0"},
	}
}

// BenchmarkInL1Block boots the cloud kernel with the throughput initrd once
// per iteration under each VMM (alternating which goes first) on the same
// raw file of blkMiB MiB in L1's tmpfs, and prints each run's write and
// read throughput as the guest timed it. A boot that does not reach /init
// within blkInitDeadline is killed, reported as a stall and retried, up to
// blkAttempts times.
func BenchmarkInL1Block(b *testing.B) {
	needL1(b, l1Kernel, l1BlkInitrd)
	disk := filepath.Join(b.TempDir(), "disk.img")
	if err := writeZeros(disk, blkMiB<<20); err != nil {
		b.Fatal(err)
	}
	alternate(b, "VMMBlockVersusQEMU", blkArgv(disk), blkRun)
}

// alternate runs one guest per iteration of b under each VMM of argv,
// rotating which goes first (vmmOrder), and prints each run's values as
// the result base+"/vmm=NAME" (gotest.L1Result), with the boots of that VMM and
// round that stalled before the guest's /init ("stalled-boots", errStall)
// or died after it ("lost-boots", errLost; the error is printed). Such a
// boot is retried, up to blkAttempts boots per VMM and round; a round
// whose every boot failed so prints only those counts. When both ironvisor and QEMU completed a round, it also
// prints base+"/ratio=ironvisor-qemu": per value, ironvisor's over QEMU's,
// or QEMU's over ironvisor's for a latency (a unit "us-..."), so that
// above 1 is better for ironvisor. Any other error fails b.
func alternate(b *testing.B, base string, argv map[string][]string, run func([]string) ([]benchfmt.Value, error)) {
	for round := 0; b.Loop(); round++ {
		vals := map[string][]benchfmt.Value{}
		for _, name := range vmmOrder(round, argv) {
			stalled, lost := 0, 0
			for attempt := 1; attempt <= blkAttempts; attempt++ {
				v, err := run(argv[name])
				if errors.Is(err, errStall) {
					stalled++
					continue
				}
				if errors.Is(err, errLost) {
					fmt.Printf("LOST vmm=%s round=%d attempt=%d: %v\n", name, round, attempt, err)
					lost++
					continue
				}
				if err != nil {
					b.Fatalf("%s round %d: %v", name, round, err)
				}
				vals[name] = v
				break
			}
			gotest.L1Result(base+"/vmm="+name, append(slices.Clone(vals[name]),
				benchfmt.Value{Value: float64(stalled), Unit: "stalled-boots"},
				benchfmt.Value{Value: float64(lost), Unit: "lost-boots"})...)
		}
		iv, q := vals["ironvisor"], vals["qemu"]
		if iv == nil || q == nil {
			continue
		}
		ratios := make([]benchfmt.Value, len(iv))
		for i := range iv {
			ratios[i] = benchfmt.Value{Value: iv[i].Value / q[i].Value, Unit: iv[i].Unit}
			if strings.HasPrefix(iv[i].Unit, "us-") {
				ratios[i].Value = q[i].Value / iv[i].Value
			}
		}
		gotest.L1Result(base+"/ratio=ironvisor-qemu", ratios...)
	}
}

// writeZeros writes a fully allocated file of size zero bytes.
func writeZeros(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errStall is a boot that did not reach the guest's /init in time.
var errStall = errors.New("guest did not reach /init")

// errLost is a guest that reached /init and then died (its VMM ended, as
// on the triple faults nested SVM under QEMU's TCG gives both VMMs' Linux
// guests, docs/benchmarks.md, issue 16) before printing its result.
var errLost = errors.New("guest died before its result")

// guestBlkLine is the guest's timing of one dd.
var guestBlkLine = regexp.MustCompile(`GUEST-BLK op=(\w+) rc=(\d+) t0=([0-9.]+) t1=([0-9.]+)`)

// blkRun boots one throughput guest and returns its write and read
// throughput in MB/s (10^6 bytes), as the guest timed them.
func blkRun(argv []string) ([]benchfmt.Value, error) {
	var write, read float64
	console, err := consoleRun(argv, "GUEST-BLK-DONE", blkDeadline)
	if err != nil {
		return nil, err
	}
	for _, line := range console {
		m := guestBlkLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t0, _ := strconv.ParseFloat(m[3], 64)
		t1, _ := strconv.ParseFloat(m[4], 64)
		if m[2] != "0" || t1 <= t0 {
			return nil, fmt.Errorf("dd failed: %q", line)
		}
		mbs := blkMiB * (1 << 20) / (t1 - t0) / 1e6
		if m[1] == "write" {
			write = mbs
		} else {
			read = mbs
		}
	}
	if write == 0 || read == 0 {
		return nil, fmt.Errorf("incomplete result:\n%s", strings.Join(console, "\n"))
	}
	return []benchfmt.Value{{Value: write, Unit: "mbps-write"}, {Value: read, Unit: "mbps-read"}}, nil
}

// consoleRun boots one guest whose /init prints GUEST-INIT-OK, then done
// when it has finished, and returns its console lines up to done. A boot
// that does not reach /init within blkInitDeadline is errStall; a run that
// does not print done within deadline of the exec is an error.
func consoleRun(argv []string, done string, deadline time.Duration) ([]string, error) {
	p, err := startPiped(argv)
	if err != nil {
		return nil, err
	}
	defer p.kill()
	lines, quit := make(chan string), make(chan struct{})
	defer close(quit)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(p.out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
				return
			}
		}
	}()
	initSeen := false
	stall := time.NewTimer(blkInitDeadline)
	defer stall.Stop()
	end := time.NewTimer(time.Until(p.t0.Add(deadline)))
	defer end.Stop()
	var console []string
	for {
		select {
		case <-stall.C:
			if !initSeen {
				return nil, errStall
			}
		case <-end.C:
			return nil, fmt.Errorf("no result after %v:\n%s", deadline, strings.Join(console, "\n"))
		case line, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("%w: console ended before the result; stderr: %s\n%s", errLost, p.stderr.Bytes(), strings.Join(console, "\n"))
			}
			console = append(console, line)
			initSeen = initSeen || strings.Contains(line, "GUEST-INIT-OK")
			if strings.Contains(line, done) {
				return console, nil
			}
		}
	}
}
