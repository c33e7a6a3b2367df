package racktest

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// densityLine is TestDensityOnKVM's result line: medians per VM in KiB.
var densityLine = regexp.MustCompile(`DENSITYSUM vms=(\d+) rounds=(\d+) kernel_from=(\w+) ironvisor_pss_kib=(\d+) ironvisor_kernel_kib=(-?\d+) qemu_pss_kib=(\d+) qemu_kernel_kib=(-?\d+) ironvisor_kib=(-?\d+) qemu_kib=(-?\d+) ratio=([\d.]+)`)

// densityRound is one arm's round of TestDensityOnKVM, per VM in KiB:
// PSS, the cgroup's kernel memory, the meminfo growth and the kernel
// memory's parts ("name=KiB,...", or "none").
var densityRound = regexp.MustCompile(`DENSITY round=\d+ arm=(\w+) vms=\d+ pss_kib=(-?[\d.]+) kernel_kib=(-?[\d.]+) meminfo_kib=(-?[\d.]+) kernel_detail=(\S+)`)

// BenchmarkDensityInRack runs TestDensityOnKVM in a rack server (2 vCPUs,
// 2 GiB, kvm_amd, QEMU and its microvm firmware copied in) and reports the
// per-VM proportional memory of 50 idle tiny guests under the jailed lean
// ironvisor-vmm and under QEMU microvm: PSS, the kernel's memory charged
// to each VM's cgroup, their sum and the ratio, of the median round. It
// prints every arm's round as a result line too (printRounds).
// build/bench/density.md renders them in docs/benchmarks.md.
func BenchmarkDensityInRack(b *testing.B) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		b.Skipf("SKIP: artefacts not built; run make test (%v)", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		o := gotest.Options{
			Package: "github.com/ironvisor/ironvisor/appliance/service",
			Run:     "TestDensityOnKVM$", Modules: netModules, Files: gotest.QEMUEntries(b),
			Timeout: 25 * time.Minute, Ironvisor: true, CPUs: 2, MemoryMiB: 2048, LogDir: b.TempDir(),
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+time.Minute)
		res, err := gotest.Run(ctx, set, o)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("in the rack (%v):\n%s", res.Elapsed, res.Output)
		gotest.CheckPassed(b, res, "TestDensityOnKVM")
		printRounds(b, res.Output)
		m := densityLine.FindStringSubmatch(res.Output)
		if m == nil {
			b.Fatalf("no DENSITYSUM line in the output")
		}
		if m[3] != "cgroup" {
			b.Errorf("the rack server's VMs have no memory cgroup figures (kernel memory from %s)", m[3])
		}
		units := []string{"vms", "rounds", "", "iv-pss-KiB", "iv-kernel-KiB", "qemu-pss-KiB", "qemu-kernel-KiB", "iv-KiB", "qemu-KiB", "iv/qemu"}
		for i, unit := range units {
			if unit == "" {
				continue
			}
			v, _ := strconv.ParseFloat(m[i+1], 64)
			b.ReportMetric(v, unit)
		}
	}
}

// printRounds prints every arm's round of TestDensityOnKVM's output as a
// result line, DensityInRack/arm=NAME, per VM in KiB: KiB-pss,
// KiB-kernel (the cgroup's; -1 without a memory controller),
// KiB-meminfo and the kernel memory's parts, KiB-kernel-NAME.
func printRounds(b *testing.B, output string) {
	w := benchfmt.NewWriter(os.Stdout)
	for _, m := range densityRound.FindAllStringSubmatch(output, -1) {
		var vals []benchfmt.Value
		for i, unit := range []string{"KiB-pss", "KiB-kernel", "KiB-meminfo"} {
			v, _ := strconv.ParseFloat(m[2+i], 64)
			vals = append(vals, benchfmt.Value{Value: v, Unit: unit})
		}
		for _, kv := range strings.Split(m[5], ",") {
			name, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue // "none"
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("%q: %v", m[0], err)
			}
			vals = append(vals, benchfmt.Value{Value: x, Unit: "KiB-kernel-" + name})
		}
		if err := w.Write(&benchfmt.Result{Name: benchfmt.Name("DensityInRack/arm=" + m[1]), Iters: 1, Values: vals}); err != nil {
			b.Fatal(err)
		}
	}
}
