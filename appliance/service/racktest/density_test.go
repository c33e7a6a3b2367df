package racktest

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// densityLine is TestDensityOnKVM's result line: medians per VM in KiB.
var densityLine = regexp.MustCompile(`DENSITYSUM vms=(\d+) rounds=(\d+) kernel_from=(\w+) ironvisor_pss_kib=(\d+) ironvisor_kernel_kib=(-?\d+) qemu_pss_kib=(\d+) qemu_kernel_kib=(-?\d+) ironvisor_kib=(-?\d+) qemu_kib=(-?\d+) ratio=([\d.]+)`)

// densityDetail is one arm's round of TestDensityOnKVM, with the kernel
// memory's parts.
var densityDetail = regexp.MustCompile(`DENSITY round=\d+ arm=\w+ .*`)

// BenchmarkDensityInRack runs TestDensityOnKVM in a rack server (2 vCPUs,
// 2 GiB, kvm_amd, QEMU and its microvm firmware copied in) and reports the
// per-VM proportional memory of 50 idle tiny guests under the jailed lean
// ironvisor-vmm and under QEMU microvm: PSS, the kernel's memory charged
// to each VM's cgroup, their sum and the ratio. build/bench/density.sh
// formats them for docs/benchmarks.md.
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
		for _, line := range densityDetail.FindAllString(res.Output, -1) {
			b.Log(line)
		}
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
