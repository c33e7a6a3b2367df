package racktest

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// prodRounds is how many starts of each path the production-start
// benchmark rotates.
const prodRounds = 11

// prodLine is one in-L1 start (BenchmarkInL1ProductionStart).
var prodLine = regexp.MustCompile(`PROD path=([\w-]+) round=(\d+) first_us=(\d+)`)

// BenchmarkVMMProductionStart runs BenchmarkInL1ProductionStart in one L1
// server: prodRounds starts of the tiny PVH guest (128 MiB, 1 vCPU) on each
// of three paths, rotating, each timed from its start to the first byte
// of its console file: through the supervisor into the jail (what the
// appliance does for every instance), the bare ironvisor-vmm, and QEMU
// microvm under the jail's namespaces and cgroup limits. It reports the
// medians and the ratios of the jailed start to the other two. Run it
// with `go test -run XXX -bench VMMProductionStart -benchtime 1x
// ./build/racktest` (make bench).
func BenchmarkVMMProductionStart(b *testing.B) {
	for b.Loop() {
		console := runInL1(b, "BenchmarkInL1ProductionStart", prodRounds, 20*time.Minute)
		reportProd(b, console)
	}
}

// reportProd parses the PROD lines, logs the table rows that
// build/bench/vmm-prodstart.sh prints (after "ROW:") and reports medians
// and ratios.
func reportProd(b *testing.B, console string) {
	ms := map[string][]float64{}
	for _, m := range prodLine.FindAllStringSubmatch(console, -1) {
		us, _ := strconv.ParseFloat(m[3], 64)
		ms[m[1]] = append(ms[m[1]], us/1e3)
	}
	j, u, q := ms["jailed"], ms["unjailed"], ms["qemu-isolated"]
	if len(j) != prodRounds || len(u) != prodRounds || len(q) != prodRounds {
		b.Fatalf("got %d jailed, %d unjailed and %d QEMU starts, want %d each", len(j), len(u), len(q), prodRounds)
	}
	for _, p := range []struct {
		what string
		v    []float64
	}{{"jailed ironvisor-vmm through the supervisor", j}, {"bare ironvisor-vmm", u}, {"QEMU microvm, same namespaces and cgroup limits", q}} {
		b.Logf("ROW: | %s | %.2f ms | %s | %s | %s |", p.what, median(p.v), ratioOfMedians(j, p.v), pairedRatio(j, p.v), list(p.v))
	}
	b.ReportMetric(median(j), "jailed-first-byte-ms")
	b.ReportMetric(median(u), "unjailed-first-byte-ms")
	b.ReportMetric(median(q), "qemu-isolated-first-byte-ms")
	b.ReportMetric(median(j)/median(u), "jailed/unjailed")
	b.ReportMetric(median(j)/median(q), "jailed/qemu-isolated")
}
