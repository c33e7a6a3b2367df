// Package benchdoc keeps the figures of docs/benchmarks.md as data and
// writes their markdown from it.
//
// A section is a Spec (build/bench/NAME.md): a header that names its title
// and the `go test -bench` run that measures it, then a text/template for
// its body. Measure runs the benchmark and returns its output as a data
// file: the standard Go benchmark format (golang.org/x/perf/benchfmt, what
// benchstat reads), with configuration lines that record the date, the
// commit, the command and the host first. Render reads such a file and
// executes the template over it, with medians and their confidence
// intervals from golang.org/x/perf/benchmath, so that every figure in the
// markdown comes from the data next to it (docs/bench/NAME.txt) and can be
// checked, compared with benchstat, or written again without measuring.
package benchdoc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// Spec is one section of docs/benchmarks.md.
type Spec struct {
	// Title is the section's heading, without "## ".
	Title string
	// Runs are the go test runs that measure it, in order.
	Runs []Run
	// Note says what runs it when it is not plain (such as "as root").
	Note string
	// Body is the template of the section's text after the header lines.
	Body *template.Template
}

// Run is one go test run of benchmarks.
type Run struct {
	// Package is the Go package, as go test takes it ("./netcfg").
	Package string
	// Bench is go test's -bench pattern.
	Bench string
	// Args are more go test flags ("-count=5", "-benchtime=100x").
	Args []string
}

// Command is the go test command line of the run, as a reader would
// type it.
func (r Run) Command() string {
	args := append([]string{"go", "test", "-run", "'^$'", "-bench", "'" + r.Bench + "'"}, r.Args...)
	return strings.Join(append(args, r.Package), " ")
}

// specKey matches a header line of a spec file: "key: value".
var specKey = regexp.MustCompile(`^([a-z]+):\s*(.*)$`)

// ParseSpec reads a spec file: header lines "title: ...", one or more
// "run: PACKAGE BENCH [GO TEST FLAGS...]", optionally "note: ...", and
// comment lines starting with "#"; then a line "---", then the body
// template. name names the spec in errors.
func ParseSpec(name string, src []byte) (*Spec, error) {
	head, body, ok := strings.Cut(string(src), "\n---\n")
	if !ok {
		return nil, fmt.Errorf("%s: no \"---\" line between the header and the body", name)
	}
	s := &Spec{}
	for i, line := range strings.Split(head, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := specKey.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: want \"key: value\", got %q", name, i+1, line)
		}
		switch m[1] {
		case "title":
			s.Title = m[2]
		case "run":
			f := strings.Fields(m[2])
			if len(f) < 2 {
				return nil, fmt.Errorf("%s:%d: want \"run: PACKAGE BENCH [FLAGS...]\", got %q", name, i+1, line)
			}
			s.Runs = append(s.Runs, Run{Package: f[0], Bench: f[1], Args: f[2:]})
		case "note":
			s.Note = m[2]
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", name, i+1, m[1])
		}
	}
	if s.Title == "" {
		return nil, fmt.Errorf("%s: no title", name)
	}
	if len(s.Runs) == 0 {
		return nil, fmt.Errorf("%s: no run", name)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(body)
	if err != nil {
		return nil, err
	}
	s.Body = t
	return s, nil
}

// Host describes where a measurement ran, for the data file's header.
// (Measure adds the load average at the end of each run.)
type Host struct {
	Date, Commit, Kernel, Host string
}

// Measure runs the section's benchmarks with goBin in dir and returns the
// data file: for each run, the host's configuration lines and the run's
// command, then the benchmark output's configuration and result lines.
// progress, when not nil, gets all of go test's output as it comes.
func (s *Spec) Measure(ctx context.Context, goBin, dir string, h Host, progress io.Writer) ([]byte, error) {
	var data bytes.Buffer
	for _, r := range s.Runs {
		args := append([]string{"test", "-run", "^$", "-bench", r.Bench}, r.Args...)
		cmd := exec.CommandContext(ctx, goBin, append(args, r.Package)...)
		cmd.Dir = dir
		var out bytes.Buffer
		w := io.Writer(&out)
		if progress != nil {
			w = io.MultiWriter(&out, progress)
		}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Command(), err)
		}
		for _, kv := range [][2]string{{"date", h.Date}, {"commit", h.Commit}, {"command", r.Command()}, {"host", h.Host}, {"kernel", h.Kernel}, {"load", loadAverage()}} {
			fmt.Fprintf(&data, "%s: %s\n", kv[0], kv[1])
		}
		n := 0
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "Benchmark") {
				n++
			} else if !specKey.MatchString(l) {
				continue
			}
			data.WriteString(l + "\n")
		}
		if n == 0 {
			return nil, fmt.Errorf("%s printed no benchmark results:\n%s", r.Command(), out.Bytes())
		}
	}
	return data.Bytes(), nil
}

// Data is a data file read back: its configuration (the first value of
// each key), the commands in the order they ran, and its results by name,
// without the GOMAXPROCS suffix and without the "Benchmark" prefix.
type Data struct {
	Config   map[string]string
	Commands []string
	Results  map[string][]*benchfmt.Result
}

// ReadData parses a data file.
func ReadData(name string, src []byte) (*Data, error) {
	d := &Data{Config: map[string]string{}, Results: map[string][]*benchfmt.Result{}}
	r := benchfmt.NewReader(bytes.NewReader(src), name)
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if _, ok := d.Config[c.Key]; !ok {
					d.Config[c.Key] = string(c.Value)
				}
			}
			if c := rec.GetConfig("command"); c != "" && !slices.Contains(d.Commands, c) {
				d.Commands = append(d.Commands, c)
			}
			base, parts := rec.Name.Parts()
			key := string(base)
			for _, p := range parts {
				if !bytes.HasPrefix(p, []byte("-")) {
					key += string(p)
				}
			}
			d.Results[key] = append(d.Results[key], rec.Clone())
		case *benchfmt.SyntaxError:
			return nil, rec
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(d.Results) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", name)
	}
	return d, nil
}

// Sample returns the values of unit in the results of the named benchmark
// ("InstanceIDsOnBusyHost/instances=0"). Units are benchfmt's tidied ones:
// ns/op reads as sec/op in seconds.
func (d *Data) Sample(name, unit string) ([]float64, error) {
	rs, ok := d.Results[name]
	if !ok {
		return nil, fmt.Errorf("no results for %q (have %s)", name, strings.Join(d.names(), ", "))
	}
	var xs []float64
	for _, r := range rs {
		if v, ok := r.Value(unit); ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("%s reported no %q", name, unit)
	}
	return xs, nil
}

// names lists the benchmarks in d, sorted.
func (d *Data) names() []string {
	var ns []string
	for n := range d.Results {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Summary is a sample's median (Center) with its 95% confidence interval
// (Lo, Hi: infinite when the sample is too small for one, as benchmath
// computes it), its smallest and largest value and its size.
type Summary struct {
	Center, Lo, Hi float64
	Min, Max       float64
	N              int
}

// Summarize returns the summary of the named benchmark's unit.
func (d *Data) Summarize(name, unit string) (Summary, error) {
	xs, err := d.Sample(name, unit)
	if err != nil {
		return Summary{}, err
	}
	sample := benchmath.NewSample(xs, &benchmath.DefaultThresholds)
	s := benchmath.AssumeNothing.Summary(sample, 0.95)
	return Summary{Center: s.Center, Lo: s.Lo, Hi: s.Hi, Min: sample.Values[0], Max: sample.Values[len(sample.Values)-1], N: len(xs)}, nil
}

// Render writes the section: its heading, how it was measured (from the
// data's configuration), and the body template executed over the data.
func (s *Spec) Render(w io.Writer, d *Data) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## %s\n\n", s.Title)
	how := "`make bench` runs"
	if s.Note != "" {
		how = s.Note + "; " + how
	}
	fmt.Fprintf(&b, "Command (%s it; the data is in `docs/bench/`):\n\n", how)
	for _, c := range d.Commands {
		fmt.Fprintf(&b, "    %s\n", c)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Measured %s at commit %s on %s; kernel %s, load average %s at the end.\n\n",
		d.Config["date"], d.Config["commit"], d.Config["host"], d.Config["kernel"], d.Config["load"])
	if err := s.Body.Execute(&b, d); err != nil {
		return err
	}
	_, err := w.Write(append(bytes.TrimRight(b.Bytes(), "\n"), '\n'))
	return err
}

// funcs are the template functions of a spec's body; a template gets the
// *Data as its dot.
var funcs = template.FuncMap{
	// median returns the median of a benchmark's unit; a missing one
	// stops the rendering with an error, never a zero.
	"median": func(d *Data, name, unit string) (float64, error) {
		s, err := d.Summarize(name, unit)
		return s.Center, err
	},
	// summary returns the median and its confidence interval.
	"summary": func(d *Data, name, unit string) (Summary, error) { return d.Summarize(name, unit) },
	// ms formats seconds as milliseconds with the given decimals.
	"ms": func(decimals int, sec float64) string { return fmt.Sprintf("%.*f", decimals, sec*1e3) },
	// num formats x with the given decimals.
	"num": func(decimals int, x float64) string { return fmt.Sprintf("%.*f", decimals, x) },
	// div returns a/b; b == 0 is an error.
	"div": func(a, b float64) (float64, error) {
		if b == 0 || math.IsNaN(b) {
			return 0, fmt.Errorf("division by %v", b)
		}
		return a / b, nil
	},
	// sample returns a benchmark's values of unit in the data's order
	// (Data.Sample), for listing every run.
	"sample": func(d *Data, name, unit string) ([]float64, error) { return d.Sample(name, unit) },
	// join formats values with the given decimals, comma-separated.
	"join": func(decimals int, xs []float64) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf("%.*f", decimals, x)
		}
		return strings.Join(parts, ", ")
	},
	// ints returns its arguments, for ranging over sizes.
	"ints": func(xs ...int) []int { return xs },
	// strs returns its arguments, for ranging over names.
	"strs": func(xs ...string) []string { return xs },
	// split is strings.Split, for pairs such as "label:name" in strs.
	"split": strings.Split,
	// name formats a benchmark name with printf.
	"name": fmt.Sprintf,
}

// HostNow describes this machine, for Measure's header.
func HostNow(commit, date, host string) Host {
	h := Host{Commit: commit, Date: date, Host: host}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	return h
}

// loadAverage returns the host's one-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	l, _, _ := strings.Cut(string(b), " ")
	return l
}
