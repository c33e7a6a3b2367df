package racktest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// prodRounds is how many starts of each path the production-start
// benchmark rotates.
const prodRounds = 11

// prodLine is one in-L1 start (BenchmarkInL1ProductionStart).
var prodLine = regexp.MustCompile(`PROD path=([\w-]+) round=(\d+) first_us=(\d+)`)

// prodStagesLine is the split of one ironvisor-vmm start: stage=µs pairs.
var prodStagesLine = regexp.MustCompile(`PROD-STAGES path=([\w-]+) round=\d+((?: \w+=-?\d+)+)`)

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
	for _, p := range []struct{ name, what string }{
		{"bare-netns", "bare ironvisor-vmm in a new network namespace"},
		{"bare-5ns", "bare ironvisor-vmm in the jail's five new namespaces"},
		{"bare-5ns-cgroup", "bare ironvisor-vmm in the five namespaces and a limited cgroup leaf"},
	} {
		if v := ms[p.name]; len(v) == prodRounds {
			b.Logf("ROW: | %s | %.2f ms | %s | %s | %s |", p.what, median(v), ratioOfMedians(j, v), pairedRatio(j, v), list(v))
		}
	}
	logStages(b, console)
	b.ReportMetric(median(j), "jailed-first-byte-ms")
	b.ReportMetric(median(u), "unjailed-first-byte-ms")
	b.ReportMetric(median(q), "qemu-isolated-first-byte-ms")
	b.ReportMetric(median(j)/median(u), "jailed/unjailed")
	b.ReportMetric(median(j)/median(q), "jailed/qemu-isolated")
}

// logStages logs, per path, the median of each stage of the VMM's start
// (PROD-STAGES lines: the time since the stage before), after "STAGES:".
func logStages(b *testing.B, console string) {
	type split struct {
		names []string
		us    map[string][]float64
	}
	paths := map[string]*split{}
	var order []string
	for _, m := range prodStagesLine.FindAllStringSubmatch(console, -1) {
		sp := paths[m[1]]
		if sp == nil {
			sp = &split{us: map[string][]float64{}}
			paths[m[1]] = sp
			order = append(order, m[1])
		}
		for _, kv := range strings.Fields(m[2]) {
			name, v, _ := strings.Cut(kv, "=")
			us, _ := strconv.ParseFloat(v, 64)
			if _, ok := sp.us[name]; !ok {
				sp.names = append(sp.names, name)
			}
			sp.us[name] = append(sp.us[name], us/1e3)
		}
	}
	for _, p := range order {
		sp := paths[p]
		var parts []string
		for _, n := range sp.names {
			parts = append(parts, fmt.Sprintf("%s %.2f ms", n, median(sp.us[n])))
		}
		b.Logf("STAGES: %s (%d runs): %s", p, len(sp.us[sp.names[0]]), strings.Join(parts, ", "))
	}
}
