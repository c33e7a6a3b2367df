package racktest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// kvmFlipInit is the L1 /init of BenchmarkKVMFlip: it loads kvm_amd,
// prints where the kernel's text lies (KASLR, for the freeze report) and
// runs build/rack/kvmflip with the arguments of the kernel command line's
// kvmflip.args (commas for spaces) until the host stops the server.
const kvmFlipInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
modprobe kvm_amd || echo L1-MODPROBE-FAILED
grep ' [tT] ' /proc/kallsyms > /dev/ttyS1
echo KSYMS-WRITTEN
args=$(sed -n 's/.*kvmflip\.args=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
/bin/kvmflip $args
echo "L1-DONE rc=$?"
poweroff -f
`

// kvmFlipVariants are the -pin settings BenchmarkKVMFlip alternates.
var kvmFlipVariants = []struct {
	name string
	args string
}{
	{"without the pin", "-pin=false"},
	{"with a kvm.Pin", "-pin=true"},
}

// kvmFlipBeat is one heartbeat of kvmflip.
var kvmFlipBeat = regexp.MustCompile(`KVMFLIP(?: i=(\d+) ms=\d+|-DONE n=(\d+) ms=\d+|-ERROR ([^\r\n]*))\r?\n`)

// kvmFlipRound is one server's run: how many VMs came and went, and
// whether the heartbeats stopped.
type kvmFlipRound struct {
	iterations int
	froze      bool
	took       time.Duration
}

// BenchmarkKVMFlip is issue 18's experiment: in a server booted as `make
// run` boots it (TCG with nested SVM, 2 vCPUs, 2 GiB, the host kernel,
// tsc=reliable), kvmflip creates and closes VMs as the appliance's host
// probe does, with both CPUs switching tasks meanwhile, and prints a
// heartbeat per VM; the host counts a round as frozen when the heartbeats
// stop for IRONVISOR_FLIP_QUIET (60 s). Rounds alternate without and with
// a kvm.Pin, IRONVISOR_FLIP_ROUNDS (3) of each, each at most
// IRONVISOR_FLIP_ROUND (4m). IRONVISOR_FLIP_WHAT is kvmflip's -what (probe;
// vcpu for a VM with irqchip and vCPU). A frozen server's vCPUs are read
// through QEMU's gdb stub (when gdb is installed) and named with the
// kallsyms it wrote to its second serial port. It reports a ROW per
// variant: rounds, VMs created, freezes and the VMs each frozen round got
// through.
func BenchmarkKVMFlip(b *testing.B) {
	set := artefactsOrSkip(b)
	rounds := envInt("IRONVISOR_FLIP_ROUNDS", 3)
	quiet := envDuration(b, "IRONVISOR_FLIP_QUIET", time.Minute)
	budget := envDuration(b, "IRONVISOR_FLIP_ROUND", 4*time.Minute)
	what := os.Getenv("IRONVISOR_FLIP_WHAT")
	if what == "" {
		what = "probe"
	}
	dir := b.TempDir()
	overlay := kvmFlipOverlay(b, set, dir)
	for b.Loop() {
		results := map[string][]kvmFlipRound{}
		for r := range rounds {
			for _, v := range kvmFlipVariants {
				args := fmt.Sprintf("%s,-what=%s,-churn,-n=0", v.args, what)
				res := kvmFlipOnce(b, set, overlay, filepath.Join(dir, fmt.Sprintf("round%d", r+1)), args, quiet, budget)
				b.Logf("round %d, %s: %d VMs in %.0fs, froze=%v", r+1, v.name, res.iterations, res.took.Seconds(), res.froze)
				results[v.name] = append(results[v.name], res)
			}
		}
		for _, v := range kvmFlipVariants {
			var vms, freezes int
			var at []string
			for _, res := range results[v.name] {
				vms += res.iterations
				if res.froze {
					freezes++
					at = append(at, strconv.Itoa(res.iterations))
				}
			}
			if len(at) == 0 {
				at = []string{"-"}
			}
			b.Logf("ROW: | %s | %s | %d | %d | %d | %s |", v.name, what, len(results[v.name]), vms, freezes, strings.Join(at, ", "))
		}
	}
}

// kvmFlipOnce boots one server with kvmflip's args and follows its
// heartbeats until budget, a freeze (quiet), or the server's end.
func kvmFlipOnce(b *testing.B, set *artefacts.Set, overlay, dir, args string, quiet, budget time.Duration) kvmFlipRound {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget+5*time.Minute)
	defer cancel()
	gdbPort := freeTCPPort(b)
	srv, err := rack.Start(ctx, rack.Options{
		Name: "kvmflip", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{overlay},
		Append: "console=ttyS0 kvmflip.args=" + args, MemoryMiB: 2048, CPUs: 2, LogDir: dir,
		Extra: []string{"-gdb", fmt.Sprintf("tcp:127.0.0.1:%d", gdbPort),
			"-chardev", "file,id=ksyms,path=" + filepath.Join(dir, "kallsyms"), "-device", "isa-serial,chardev=ksyms"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	bctx, bcancel := context.WithTimeout(ctx, 4*time.Minute)
	err = srv.Console.Expect(bctx, "KVMFLIP-START")
	bcancel()
	if err != nil {
		b.Fatalf("kvmflip did not start: %v\n%s", err, srv.Console.Tail(30))
	}
	start := time.Now()
	var res kvmFlipRound
	for time.Since(start) < budget {
		hctx, hcancel := context.WithTimeout(ctx, quiet)
		m, err := srv.Console.ExpectRegexp(hctx, kvmFlipBeat)
		hcancel()
		switch {
		case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			res.froze, res.took = true, time.Since(start)
			b.Logf("FROZEN after %d VMs (%s): no heartbeat for %v; console tail:\n%s\n%s", res.iterations, args, quiet,
				srv.Console.Tail(25), frozenCPUs(filepath.Join(dir, "kallsyms"), gdbPort))
			return res
		case err != nil:
			b.Fatalf("%v\n%s", err, srv.Console.Tail(30))
		case m[3] != "":
			b.Fatalf("kvmflip: %s", m[3])
		case m[2] != "":
			res.iterations, _ = strconv.Atoi(m[2])
			res.took = time.Since(start)
			return res
		}
		res.iterations, _ = strconv.Atoi(m[1])
	}
	res.took = time.Since(start)
	return res
}

// kvmFlipOverlay builds the L1 initramfs: busybox, /init, kvm_amd with its
// dependencies and build/rack/kvmflip.
func kvmFlipOverlay(b *testing.B, set *artefacts.Set, dir string) string {
	flip := filepath.Join(dir, "kvmflip")
	if err := gotest.Build(context.Background(), "github.com/ironvisor/ironvisor/build/rack/kvmflip", flip); err != nil {
		b.Fatal(err)
	}
	h := set.HostKernel
	l1 := []initramfs.Entry{
		initramfs.Console(),
		initramfs.HostFile("/bin/busybox", 0o755, busyboxPath),
		initramfs.File("/init", 0o755, []byte(kvmFlipInit)),
		initramfs.HostFile("/bin/kvmflip", 0o755, flip),
		initramfs.Dir("/proc", 0o755), initramfs.Dir("/sys", 0o755),
		initramfs.Dir("/dev", 0o755), initramfs.Dir("/tmp", 0o1777),
	}
	l1 = append(l1, moduleEntries(b, h.ModulesDir(), h.Release, []string{"kvm_amd"})...)
	path := filepath.Join(dir, "kvmflip.gz")
	buildArchive(b, path, l1)
	return path
}

// frozenCPUs reads each vCPU's instruction pointer and the top of its
// stack through QEMU's gdb stub and names every kernel text address in
// them with the kallsyms the server wrote (its text symbols, KASLR
// included). It returns that report, or why there is none.
func frozenCPUs(kallsyms string, port int) string {
	if _, err := exec.LookPath("gdb"); err != nil {
		return "no gdb: vCPUs not read"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gdb", "-nx", "-batch", "-ex", "set architecture i386:x86-64",
		"-ex", fmt.Sprintf("target remote 127.0.0.1:%d", port),
		"-ex", "thread apply all x/3i $pc", "-ex", "thread apply all x/24gx $sp", "-ex", "detach").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("gdb: %v\n%s", err, out)
	}
	syms, err := loadKallsyms(kallsyms)
	if err != nil || len(syms) == 0 {
		return fmt.Sprintf("%s\nkallsyms: %v (%d symbols): addresses not named", out, err, len(syms))
	}
	var rep strings.Builder
	rep.Write(out)
	seen := map[string]bool{}
	for _, h := range regexp.MustCompile(`0x(ffffffff[89a-f][0-9a-f]{7})\b`).FindAllStringSubmatch(string(out), -1) {
		if seen[h[1]] {
			continue
		}
		seen[h[1]] = true
		a, _ := strconv.ParseUint(h[1], 16, 64)
		if n := syms.name(a); n != "" {
			fmt.Fprintf(&rep, "%#x = %s\n", a, n)
		}
	}
	return rep.String()
}

// kallsyms is a kernel's text symbol table, sorted by address.
type kallsyms []struct {
	a    uint64
	name string
}

// loadKallsyms reads lines "ADDR t NAME [module]".
func loadKallsyms(path string) (kallsyms, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s kallsyms
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 3 {
			continue
		}
		a, err := strconv.ParseUint(w[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		s = append(s, struct {
			a    uint64
			name string
		}{a, strings.Join(w[2:], " ")})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].a < s[j].a })
	return s, sc.Err()
}

// name returns "symbol+0xoff" for address a, "" when a is below every
// symbol or more than 64 KiB past the nearest.
func (s kallsyms) name(a uint64) string {
	i := sort.Search(len(s), func(i int) bool { return s[i].a > a }) - 1
	if i < 0 || a-s[i].a > 1<<16 {
		return ""
	}
	return fmt.Sprintf("%s+%#x", s[i].name, a-s[i].a)
}

// freeTCPPort returns a TCP port free on 127.0.0.1 right now.
func freeTCPPort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// envInt returns the integer in the environment variable name, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// envDuration returns the duration in the environment variable name, or def.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}
