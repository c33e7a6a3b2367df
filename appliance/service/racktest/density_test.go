package racktest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// BenchmarkDensityInRack runs TestDensityOnKVM in a rack server (2 vCPUs,
// 2 GiB, kvm_amd, QEMU and its microvm firmware copied in) and reports the
// per-VM proportional memory of 50 idle tiny guests under the jailed lean
// ironvisor-vmm and under QEMU microvm: PSS, the kernel's memory charged
// to each VM's cgroup, their sum and the ratio, of the median round. The
// L1 prints every arm's round and the medians as result lines, which it
// relays (gotest.RelayL1Results). build/bench/density.md renders them in
// docs/benchmarks.md.
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
		summary := gotest.FindResult(gotest.RelayL1Results(b, os.Stdout, res.Output, "DensityInRack"), "DensityInRack/summary")
		if summary == nil {
			b.Fatalf("no DensityInRack/summary result in the output")
		}
		if v, _ := summary.Value("kernel-from-cgroup"); v != 1 {
			b.Errorf("the rack server's VMs have no memory cgroup figures (kernel memory from meminfo)")
		}
		for _, v := range summary.Values {
			if v.Unit != "kernel-from-cgroup" {
				b.ReportMetric(v.Value, v.Unit)
			}
		}
	}
}
