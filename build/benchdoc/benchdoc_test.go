package benchdoc

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// spec is a section in the shape of build/bench's: two sizes and a ratio.
const spec = `# a comment line
title: Widgets: one widget against the host's size
run: ./widgets BenchmarkWidget$ -count=3 -benchtime=10x
---
| size | median | range | / none |
|---|---|---|---|
{{- $none := median . "Widget/n=0" "sec/op"}}
{{- range $n := ints 0 10}}
{{- $s := summary $ (name "Widget/n=%d" $n) "sec/op"}}
| {{$n}} | {{ms 2 $s.Center}} ms | {{ms 2 $s.Min}} to {{ms 2 $s.Max}} ms | {{div $s.Center $none | num 2}} |
{{- end}}

Custom metric: {{median . "Widget/n=0" "ratio-x" | num 1}}.
{{range $p := strs "sec/op:s" "ratio-x:x"}}{{$u := index (split $p ":") 0}}
Runs of n=0 in {{$u}}: {{sample $ "Widget/n=0" $u | join 3}} {{index (split $p ":") 1}}.
{{- end}}
`

// data is what Measure writes for it: the host's lines, go test's
// configuration lines and three runs of two sub-benchmarks.
const data = `date: 2026-12-07 19:00 UTC
commit: abc1234
command: go test -run '^$' -bench 'BenchmarkWidget$' -count=3 -benchtime=10x ./widgets
host: 2 CPUs (Example CPU)
kernel: 6.1.0
load: 0.50
goos: linux
goarch: amd64
pkg: example/widgets
BenchmarkWidget/n=0-2     10   1000000 ns/op   2.5 ratio-x
BenchmarkWidget/n=10-2    10   3000000 ns/op
BenchmarkWidget/n=0-2     10   3000000 ns/op   2.5 ratio-x
BenchmarkWidget/n=10-2    10   5000000 ns/op
BenchmarkWidget/n=0-2     10   2000000 ns/op   2.5 ratio-x
BenchmarkWidget/n=10-2    10   4000000 ns/op
`

// TestRenderFromData renders the spec over the data: the header from the
// data's configuration, medians, ranges and ratios from its results.
func TestRenderFromData(t *testing.T) {
	s, err := ParseSpec("widgets.md", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Runs[0].Command(), `go test -run '^$' -bench 'BenchmarkWidget$' -count=3 -benchtime=10x ./widgets`; len(s.Runs) != 1 || got != want {
		t.Errorf("Runs = %v, Command() = %q, want one run, %q", s.Runs, got, want)
	}
	d, err := ReadData("widgets.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := s.Render(&out, d); err != nil {
		t.Fatal(err)
	}
	want := "## Widgets: one widget against the host's size\n\n" +
		"Command (`make bench` runs it; the data is in `docs/bench/`):\n\n" +
		"    go test -run '^$' -bench 'BenchmarkWidget$' -count=3 -benchtime=10x ./widgets\n\n" +
		"Measured 2026-12-07 19:00 UTC at commit abc1234 on 2 CPUs (Example CPU); kernel 6.1.0, load average 0.50 at the end.\n\n" +
		"| size | median | range | / none |\n|---|---|---|---|\n" +
		"| 0 | 2.00 ms | 1.00 to 3.00 ms | 1.00 |\n" +
		"| 10 | 4.00 ms | 3.00 to 5.00 ms | 2.00 |\n\n" +
		"Custom metric: 2.5.\n\n" +
		"Runs of n=0 in sec/op: 0.001, 0.003, 0.002 s.\n" +
		"Runs of n=0 in ratio-x: 2.500, 2.500, 2.500 x.\n"
	if out.String() != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestRenderRefusesMissingFigures: a figure the data lacks stops the
// rendering with an error that names what is there; it never renders as
// zero.
func TestRenderRefusesMissingFigures(t *testing.T) {
	d, err := ReadData("widgets.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{{median . "Widget/n=100" "sec/op"}}`: `no results for "Widget/n=100" (have Widget/n=0, Widget/n=10)`,
		`{{median . "Widget/n=10" "ratio-x"}}`: `Widget/n=10 reported no "ratio-x"`,
		`{{div 1.0 0.0}}`:                      "division by 0",
		`{{.Nope}}`:                            "Nope",
	} {
		s, err := ParseSpec("bad.md", []byte("title: t\nrun: ./p B\n---\n"+body))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Render(&strings.Builder{}, d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", body, err, want)
		}
	}
}

// TestBadSpecsAndData: specs and data files that cannot be used are
// refused with the reason.
func TestBadSpecsAndData(t *testing.T) {
	for src, want := range map[string]string{
		"title: t\nrun: ./p B\n":                   `no "---" line`,
		"title: t\n---\nbody":                      "no run",
		"run: ./p B\n---\nbody":                    "no title",
		"title: t\nrun: ./p\n---\n":                `want "run: PACKAGE BENCH`,
		"title: t\nrun: ./p B\ncolour: red\n---\n": `unknown key "colour"`,
		"title: t\nrun: ./p B\nNot a key\n---\n":   `want "key: value"`,
		"title: t\nrun: ./p B\n---\n{{median":      "unclosed action",
	} {
		if _, err := ParseSpec("s.md", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", src, err, want)
		}
	}
	if _, err := ReadData("empty.txt", []byte("date: today\nPASS\n")); err == nil || !strings.Contains(err.Error(), "no benchmark results") {
		t.Errorf("data without results: error %v", err)
	}
	if _, err := ReadData("bad.txt", []byte("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("a result line with a bad value was accepted")
	}
}

// TestMeasureRunsGoTest measures a real benchmark of a throwaway module
// with this Go toolchain and reads the data back.
func TestMeasureRunsGoTest(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/widgets\n\ngo 1.21\n",
		"widgets_test.go": `package widgets

import "testing"

func BenchmarkWidget(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run("n="+string(rune('0'+n/10)), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
			}
			b.ReportMetric(float64(n), "widgets")
		})
	}
}
`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ParseSpec("widgets.md", []byte("title: Widgets\nrun: . BenchmarkWidget$ -count=2 -benchtime=5x\nrun: . BenchmarkWidget$ -count=1 -benchtime=3x\n---\n{{median . \"Widget/n=1\" \"widgets\"}}"))
	if err != nil {
		t.Fatal(err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := s.Measure(context.Background(), goBin, dir, Host{Date: "today", Commit: "c0ffee", Host: "here", Kernel: "k"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadData("widgets.txt", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d.Config["commit"] != "c0ffee" || d.Config["pkg"] != "example.com/widgets" || d.Config["load"] == "" {
		t.Errorf("config %v", d.Config)
	}
	if len(d.Commands) != 2 || d.Commands[0] != s.Runs[0].Command() || d.Commands[1] != s.Runs[1].Command() {
		t.Errorf("commands %q, want the two runs'", d.Commands)
	}
	xs, err := d.Sample("Widget/n=1", "widgets")
	if err != nil || len(xs) != 3 || xs[0] != 10 {
		t.Errorf("Sample = %v, %v; want three runs of 10\n%s", xs, err, out)
	}
	if strings.Contains(string(out), "PASS") || strings.Contains(string(out), "ok ") {
		t.Errorf("data keeps go test's other lines:\n%s", out)
	}
	bad, _ := ParseSpec("none.md", []byte("title: None\nrun: . BenchmarkNone$\n---\n"))
	if _, err := bad.Measure(context.Background(), goBin, dir, Host{}, nil); err == nil || !strings.Contains(err.Error(), "no benchmark results") {
		t.Errorf("a run without results: error %v", err)
	}
}
