//go:build rack

// The density benchmark of issue 14 (goal 4) needs real VMMs and QEMU with
// KVM; it is compiled only with the rack tag, and
// appliance/service/racktest's BenchmarkDensityInRack runs it in the rack.

package service

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// densityVMs is how many idle instances each arm of the density benchmark
// runs at once.
const densityVMs = 50

// densityRounds is how many rounds of both arms run; the arms swap order
// every round.
const densityRounds = 3

// densityMarker is what the tiny guest prints before it idles.
const densityMarker = "DENSITY"

// TestDensityOnKVM measures the proportional memory of densityVMs idle
// tiny guests (testutil.PVHHello: a line on COM1, then cli; hlt, so the
// vCPU stays in KVM_RUN and the VM never ends) on two arms, in rounds that
// swap their order:
//
//   - ironvisor: jailed lean ironvisor-vmm processes started one after
//     another through appliance/supervisor with the service's options (as
//     the launch-rate benchmark's raw arm; through the API the vCPU budget,
//     at most config.MaxOvercommit vCPUs per host CPU, admits fewer nano
//     instances than densityVMs on a 2-CPU host), nano size: 1 vCPU,
//     64 MiB;
//   - qemu: qemu-system-x86_64 -M microvm with KVM, 1 vCPU, 64 MiB, the
//     same guest, each cloned into a cgroup leaf of its own.
//
// Once every guest has printed its line, it reads, for every VM: the PSS
// of each process in its cgroup leaf (/proc/PID/smaps_rollup), and the
// kernel memory charged to that leaf (memory.stat "kernel": slab, kernel
// stacks, page tables, KVM's MMU pages, vmalloc, percpu), where the leaf
// has the memory controller; and for the arm, the growth of the kernel's
// own memory in /proc/meminfo (KernelStack, PageTables, SecPageTables,
// SUnreclaim, Percpu, VmallocUsed) from before the first start, divided
// by densityVMs. It prints each arm's round (DensityInRack/arm=NAME) and
// the medians (DensityInRack/summary) as benchmark result lines
// (gotest.L1Result), which BenchmarkDensityInRack relays.
func TestDensityOnKVM(t *testing.T) {
	needKVM(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skipf("SKIP: no qemu-system-x86_64 to compare with: %v", err)
	}
	_, vmm := leanBinaries(t)
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello(densityMarker+"\n", testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := cgroup2Mount(t)
	parent := filepath.Join(mnt, fmt.Sprintf("ironvisor-density-%d", os.Getpid()))
	qemuParent := parent + "-qemu"
	enableMemory(t, mnt, parent)
	enableMemory(t, mnt, qemuParent)
	t.Cleanup(func() { os.Remove(parent); os.Remove(qemuParent) })
	raw := newRawLauncher(t, vmm, kernel, parent)
	arms := []densityArm{
		{name: "ironvisor", run: func(round int) densityResult { return ironvisorDensity(t, raw, parent, round) }},
		{name: "qemu", run: func(round int) densityResult { return qemuDensity(t, qemu, kernel, qemuParent, round) }},
	}
	per := map[string][]densityResult{}
	for round := range densityRounds {
		order := arms
		if round%2 == 1 {
			order = []densityArm{arms[1], arms[0]}
		}
		for _, a := range order {
			r := a.run(round)
			per[a.name] = append(per[a.name], r)
			gotest.L1Result("DensityInRack/arm="+a.name, append([]benchfmt.Value{
				{Value: r.pss, Unit: "KiB-pss"}, {Value: r.kernel, Unit: "KiB-kernel"}, {Value: r.meminfo, Unit: "KiB-meminfo"},
			}, r.detail...)...)
		}
	}
	iv, q := medianDensity(per["ironvisor"]), medianDensity(per["qemu"])
	src, fromCgroup := "cgroup", 1.0
	if iv.kernel < 0 || q.kernel < 0 {
		src, fromCgroup = "meminfo", 0
	}
	ivKiB, qKiB := iv.pss+iv.kernelOr(src), q.pss+q.kernelOr(src)
	gotest.L1Result("DensityInRack/summary",
		benchfmt.Value{Value: densityVMs, Unit: "vms"}, benchfmt.Value{Value: densityRounds, Unit: "rounds"},
		benchfmt.Value{Value: fromCgroup, Unit: "kernel-from-cgroup"},
		benchfmt.Value{Value: iv.pss, Unit: "iv-pss-KiB"}, benchfmt.Value{Value: iv.kernelOr(src), Unit: "iv-kernel-KiB"},
		benchfmt.Value{Value: q.pss, Unit: "qemu-pss-KiB"}, benchfmt.Value{Value: q.kernelOr(src), Unit: "qemu-kernel-KiB"},
		benchfmt.Value{Value: ivKiB, Unit: "iv-KiB"}, benchfmt.Value{Value: qKiB, Unit: "qemu-KiB"},
		benchfmt.Value{Value: ivKiB / qKiB, Unit: "iv/qemu"})
}

// densityArm is one side of the density benchmark.
type densityArm struct {
	name string
	run  func(round int) densityResult
}

// densityResult is one arm's round, per VM in KiB: the mean PSS, the mean
// kernel memory of its cgroup leaf (-1 where the leaves have no memory
// controller), the meminfo growth, and its parts: the leaves' kernel
// memory.stat fields, or without them the meminfo fields' growth (means,
// in units KiB-kernel-NAME).
type densityResult struct {
	pss, kernel, meminfo float64
	detail               []benchfmt.Value
}

// kernelOr returns the kernel memory from src ("cgroup" or "meminfo").
func (r densityResult) kernelOr(src string) float64 {
	if src == "cgroup" {
		return r.kernel
	}
	return r.meminfo
}

// medianDensity returns the round whose PSS plus cgroup kernel memory (or
// meminfo growth, without cgroup figures) is the median.
func medianDensity(rs []densityResult) densityResult {
	sorted := append([]densityResult(nil), rs...)
	key := func(r densityResult) float64 { return r.pss + max(r.kernel, 0) + r.meminfo*boolf(r.kernel < 0) }
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if key(sorted[j]) < key(sorted[i]) {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	return sorted[(len(sorted)-1)/2]
}

// boolf returns 1 for true, 0 for false.
func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ironvisorDensity starts densityVMs VMMs through raw, measures them idle
// and stops them.
func ironvisorDensity(t *testing.T, raw *rawLauncher, parent string, round int) densityResult {
	t.Helper()
	ctx := context.Background()
	before := meminfoKernel(t)
	var ids, leaves, consoles []string
	for n := range densityVMs {
		id := fmt.Sprintf("dens-%d-%d", round, n)
		if err := raw.start(ctx, id); err != nil {
			t.Fatalf("start %d of %d: %v", n+1, densityVMs, err)
		}
		ids, leaves, consoles = append(ids, id), append(leaves, filepath.Join(parent, id)), append(consoles, raw.console(id))
	}
	r := measureIdle(t, leaves, consoles, before)
	for _, id := range ids {
		if err := raw.end(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// qemuDensity starts densityVMs QEMU microvms of the tiny guest kernel,
// each cloned into its own cgroup leaf under parent, measures them idle
// and kills them.
func qemuDensity(t *testing.T, qemu, kernel, parent string, round int) densityResult {
	t.Helper()
	dir := t.TempDir()
	before := meminfoKernel(t)
	var cmds []*exec.Cmd
	var leaves, consoles []string
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		for _, l := range leaves {
			os.Remove(l)
		}
	}()
	for n := range densityVMs {
		leaf := filepath.Join(parent, fmt.Sprintf("q-%d-%d", round, n))
		if err := os.Mkdir(leaf, 0o755); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
		fd, err := syscall.Open(leaf, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		console := filepath.Join(dir, fmt.Sprintf("q-%d.log", n))
		c := exec.Command(qemu, "-M", "microvm", "-enable-kvm", "-cpu", "qemu64", "-m", strconv.Itoa(nanoMem>>20)+"M", "-smp", "1",
			"-nodefaults", "-no-user-config", "-display", "none", "-L", "/usr/share/qemu",
			"-serial", "file:"+console, "-kernel", kernel)
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: fd}
		err = c.Start()
		syscall.Close(fd)
		if err != nil {
			t.Fatalf("start QEMU %d: %v", n+1, err)
		}
		cmds, consoles = append(cmds, c), append(consoles, console)
	}
	return measureIdle(t, leaves, consoles, before)
}

// measureIdle waits until every console shows densityMarker, then measures
// the VMs of leaves (see TestDensityOnKVM) against the meminfo figure
// before the first start.
func measureIdle(t *testing.T, leaves, consoles []string, before map[string]int64) densityResult {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for _, c := range consoles {
		for {
			b, _ := os.ReadFile(c)
			if strings.Contains(string(b), densityMarker) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed %q: %q", c, densityMarker, b)
			}
			time.Sleep(10 * time.Millisecond) // a console file has no change stream here
		}
	}
	var r densityResult
	detail := map[string]int64{}
	var names []string
	for _, leaf := range leaves {
		pids := leafPIDs(t, leaf)
		if len(pids) == 0 {
			t.Fatalf("no process in %s", leaf)
		}
		for _, pid := range pids {
			if kernelThread(t, pid) {
				continue // KVM's per-VM worker (kvm-nx-lpage-recovery): no user memory
			}
			r.pss += float64(pssKiB(t, pid))
		}
		st, err := os.ReadFile(filepath.Join(leaf, "memory.stat"))
		if err != nil {
			r.kernel = -1
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 || !kernelStat(f[0]) {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			if _, ok := detail[f[0]]; !ok {
				names = append(names, f[0])
			}
			detail[f[0]] += v
		}
	}
	n := float64(len(leaves))
	r.pss /= n
	if r.kernel >= 0 {
		r.kernel = float64(detail["kernel"]) / 1024 / n
	}
	after := meminfoKernel(t)
	for _, name := range meminfoKernelFields {
		d := float64(after[name]-before[name]) / n
		r.meminfo += d
		if r.kernel < 0 {
			r.detail = append(r.detail, benchfmt.Value{Value: d, Unit: "KiB-kernel-" + name})
		}
	}
	for _, name := range names {
		r.detail = append(r.detail, benchfmt.Value{Value: float64(detail[name]) / 1024 / n, Unit: "KiB-kernel-" + name})
	}
	return r
}

// kernelStat reports whether a memory.stat field counts kernel memory: the
// total ("kernel") and its parts.
func kernelStat(name string) bool {
	switch name {
	case "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu", "slab_unreclaimable", "vmalloc", "sock":
		return true
	}
	return false
}
