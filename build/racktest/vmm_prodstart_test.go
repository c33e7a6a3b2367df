package racktest

import (
	"os"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// prodRounds is how many starts of each path the production-start
// benchmark rotates.
const prodRounds = 11

// prodPaths are the start paths BenchmarkInL1ProductionStart rotates: the
// three it compares, then the bare VMM under parts of the jail's
// isolation, which split the jailed start's cost.
var prodPaths = []string{"jailed", "unjailed", "qemu-isolated", "bare-netns", "bare-5ns", "bare-5ns-cgroup"}

// BenchmarkVMMProductionStart runs BenchmarkInL1ProductionStart in one L1
// server: prodRounds starts of the tiny PVH guest (128 MiB, 1 vCPU) on each
// of the paths in prodPaths, rotating, each timed from its start to the
// first byte of its console file: through the supervisor into the jail
// (what the appliance does for every instance), the bare ironvisor-vmm,
// QEMU microvm under the jail's namespaces and cgroup limits, and the
// bare VMM under parts of the jail's isolation. Every start is one result
// line, VMMProductionStart/path=NAME, with its time (ms-first-byte), the
// jailed start's time of the same round over it (jailed/this) and the
// VMM's start stages (ms-stage-NAME); build/bench/vmm-prodstart.md renders
// them. It also reports the medians and their ratios. Run it with
// `go test -run XXX -bench VMMProductionStart -benchtime 1x ./build/racktest`
// (make bench).
func BenchmarkVMMProductionStart(b *testing.B) {
	for b.Loop() {
		console := runInL1(b, "BenchmarkInL1ProductionStart", prodRounds, 20*time.Minute)
		rs := gotest.RelayL1Results(b, os.Stdout, console, "VMMProductionStart")
		first := map[string][]float64{}
		for _, p := range prodPaths {
			if first[p] = gotest.L1Sample(rs, "VMMProductionStart/path="+p, "ms-first-byte"); len(first[p]) != prodRounds {
				b.Fatalf("got %d starts of path %s, want %d:\n%s", len(first[p]), p, prodRounds, lastLines(console, 60))
			}
		}
		j, u, q := median(first["jailed"]), median(first["unjailed"]), median(first["qemu-isolated"])
		b.ReportMetric(j, "jailed-first-byte-ms")
		b.ReportMetric(u, "unjailed-first-byte-ms")
		b.ReportMetric(q, "qemu-isolated-first-byte-ms")
		b.ReportMetric(j/u, "jailed/unjailed")
		b.ReportMetric(j/q, "jailed/qemu-isolated")
	}
}
