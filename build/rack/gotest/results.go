package gotest

// Rack benchmarks measure inside an L1 server. Their results reach
// `ivbuild bench` (build/benchdoc) as data: the in-L1 test or benchmark
// prints each measurement on the L1's console as a line of the Go
// benchmark format (L1Result), named after the host-side benchmark with a
// sub-name, and the host-side benchmark prints those lines again on its
// own standard output (RelayL1Results), where `go test -bench` output is
// read.

import (
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// L1Result prints one measurement, made inside an L1, as a result line
// of one iteration: name is the host benchmark's name without
// "Benchmark" and with a sub-name ("VMMProductionStart/path=jailed").
func L1Result(name string, vals ...benchfmt.Value) {
	_ = benchfmt.NewWriter(os.Stdout).Write(&benchfmt.Result{Name: benchfmt.Name(name), Iters: 1, Values: vals})
}

// RelayL1Results writes to w (the benchmark's standard output) the result
// lines of the L1's console whose benchmark is base ("VMMProductionStart")
// or one of its sub-benchmarks, and returns them. Console lines that are
// not results (the L1's own go test output among them) are skipped; configuration
// lines are not relayed, so the data file keeps the host's.
func RelayL1Results(tb testing.TB, out io.Writer, console, base string) []*benchfmt.Result {
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

// L1Sample returns the values of unit in the results named name.
func L1Sample(rs []*benchfmt.Result, name, unit string) []float64 {
	var xs []float64
	for _, r := range rs {
		if v, ok := r.Value(unit); ok && string(r.Name) == name {
			xs = append(xs, v)
		}
	}
	return xs
}

// FindResult returns the last of rs named name, or nil.
func FindResult(rs []*benchfmt.Result, name string) *benchfmt.Result {
	var found *benchfmt.Result
	for _, r := range rs {
		if string(r.Name) == name {
			found = r
		}
	}
	return found
}
