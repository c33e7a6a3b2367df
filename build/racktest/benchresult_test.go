package racktest

// Rack benchmarks measure inside an L1 server. Their results reach
// `ivbuild bench` (build/benchdoc) as data: the in-L1 benchmark prints each
// measurement on the L1's console as a line of the Go benchmark format
// (l1Result), named after the host-side benchmark with a sub-name, and
// the host-side benchmark prints those lines again on its own standard
// output (relayL1Results), where `go test -bench` output is read.

import (
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// l1Result prints one measurement, made inside an L1, as a result line
// of one iteration: name is the host benchmark's name without
// "Benchmark" and with a sub-name ("VMMProductionStart/path=jailed").
func l1Result(name string, vals ...benchfmt.Value) {
	_ = benchfmt.NewWriter(os.Stdout).Write(&benchfmt.Result{Name: benchfmt.Name(name), Iters: 1, Values: vals})
}

// relayL1Results writes to w (the benchmark's standard output) the result
// lines of the L1's console whose benchmark is base ("VMMProductionStart")
// or one of its sub-benchmarks, and returns them. Console lines that are not results
// (the L1's own go test output among them) are skipped; configuration
// lines are not relayed, so the data file keeps the host's.
func relayL1Results(tb testing.TB, out io.Writer, console, base string) []*benchfmt.Result {
	tb.Helper()
	r := benchfmt.NewReader(strings.NewReader(strings.ReplaceAll(console, "\r", "")), "L1 console")
	w := benchfmt.NewWriter(out)
	var rs []*benchfmt.Result
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		if n, _ := res.Name.Parts(); string(n) != base {
			continue
		}
		res = res.Clone()
		res.Config = nil
		if err := w.Write(res); err != nil {
			tb.Fatal(err)
		}
		rs = append(rs, res)
	}
	if err := r.Err(); err != nil {
		tb.Fatal(err)
	}
	return rs
}

// l1Sample returns the values of unit in the results named name.
func l1Sample(rs []*benchfmt.Result, name, unit string) []float64 {
	var xs []float64
	for _, r := range rs {
		if v, ok := r.Value(unit); ok && string(r.Name) == name {
			xs = append(xs, v)
		}
	}
	return xs
}

// reportStalls reports, of the results of alternate (relayed from the
// L1), the boots of each VMM that stalled before /init or died after it,
// and how many of rounds both VMMs completed; no such round fails b.
func reportStalls(b *testing.B, rs []*benchfmt.Result, base string, rounds int) {
	paired := 0
	stalls := map[string]float64{}
	for _, r := range rs {
		_, parts := r.Name.Parts()
		if len(parts) == 1 && string(parts[0]) == "/ratio=ironvisor-qemu" {
			paired++
			continue
		}
		vmm := strings.TrimPrefix(string(r.Name), base+"/vmm=")
		for _, unit := range []string{"stalled-boots", "lost-boots"} {
			if v, ok := r.Value(unit); ok {
				stalls[unit+"-"+vmm] += v
			}
		}
	}
	for _, unit := range []string{"stalled-boots-ironvisor", "stalled-boots-qemu", "lost-boots-ironvisor", "lost-boots-qemu"} {
		b.ReportMetric(stalls[unit], unit)
	}
	b.ReportMetric(float64(paired), "rounds-both-completed")
	b.ReportMetric(float64(rounds), "rounds")
	if paired == 0 {
		b.Fatal("no round where both VMMs completed")
	}
}

// TestRelayL1Results: of an L1's console, only the named benchmark's
// result lines are relayed, without the L1's configuration lines and
// carriage returns, and read back as values.
func TestRelayL1Results(t *testing.T) {
	console := "L1-READY /dev/kvm\r\n" +
		"goos: linux\r\ncpu: AMD EPYC Processor\r\n" +
		"BenchmarkStart/path=a 1 12.5 ms-first-byte 1 jailed/this 3.25 ms-stage-init\r\n" +
		"[   12.000000] random: crng init done\r\n" +
		"BenchmarkOther/path=a 1 99 ms-first-byte\r\n" +
		"BenchmarkStart/path=b 1 25 ms-first-byte 0.5 jailed/this\r\n" +
		"BenchmarkInL1Start-2   \t       2\t 1000 ns/op\r\n" +
		"L1-EXIT 0\r\n"
	var out strings.Builder
	rs := relayL1Results(t, &out, console, "Start")
	want := "BenchmarkStart/path=a 1 12.5 ms-first-byte 1 jailed/this 3.25 ms-stage-init\n" +
		"BenchmarkStart/path=b 1 25 ms-first-byte 0.5 jailed/this\n"
	if out.String() != want {
		t.Errorf("relayed:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := l1Sample(rs, "Start/path=b", "jailed/this"); len(got) != 1 || got[0] != 0.5 {
		t.Errorf("l1Sample(path=b, jailed/this) = %v, want [0.5]", got)
	}
	if got := l1Sample(rs, "Start/path=a", "ms-stage-init"); len(got) != 1 || got[0] != 3.25 {
		t.Errorf("l1Sample(path=a, ms-stage-init) = %v, want [3.25]", got)
	}
}
