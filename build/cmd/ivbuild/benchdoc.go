package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/build/benchdoc"
)

// runBench implements `ivbuild bench SPEC...`: for each spec
// (build/bench/NAME.md) it runs the section's Go benchmarks, keeps their
// output as data in docs/bench/NAME.txt, and writes the section into
// docs/benchmarks.md from that data. With -render it writes the sections
// from the data already there, measuring nothing.
func runBench(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	doc := fs.String("doc", "docs/benchmarks.md", "markdown file whose sections are written")
	data := fs.String("data", "docs/bench", "folder of the data files")
	render := fs.Bool("render", false, "write the sections from the data files without measuring")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild bench [-render] [-doc FILE] [-data DIR] SPEC.md...\n\nRuns each spec's go test benchmarks (their output goes to stderr as it\ncomes), keeps the results in DIR/NAME.txt (Go benchmark format, for\nbenchstat) and writes the spec's section of FILE from them.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The commit is read once, before the first section changes the
	// doc: a clean tree stays clean in every section's data.
	host := thisHost()
	for _, p := range fs.Args() {
		if err := benchSection(ctx, p, *doc, *data, host, !*render); err != nil {
			fmt.Fprintln(os.Stderr, "ivbuild bench:", err)
			return 1
		}
	}
	return 0
}

// benchSection measures (when measure is set) and writes one spec's
// section.
func benchSection(ctx context.Context, specPath, doc, dataDir string, host benchdoc.Host, measure bool) error {
	src, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	spec, err := benchdoc.ParseSpec(specPath, src)
	if err != nil {
		return err
	}
	dataPath := filepath.Join(dataDir, strings.TrimSuffix(filepath.Base(specPath), ".md")+".txt")
	if measure {
		fmt.Fprintf(os.Stderr, "==> %s: %d go test run(s)\n", spec.Title, len(spec.Runs))
		start := time.Now()
		out, err := spec.Measure(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), ".", host, os.Stderr)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dataPath, out, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "==> %s: measured in %s, data in %s\n", spec.Title, time.Since(start).Round(time.Second), dataPath)
	}
	section, err := renderSection(spec, dataPath)
	if err != nil {
		return err
	}
	return updateSection(doc, section)
}

// renderSection writes spec's section from its data file.
func renderSection(spec *benchdoc.Spec, dataPath string) ([]byte, error) {
	raw, err := os.ReadFile(dataPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (run without -render to measure it)", spec.Title, err)
	}
	d, err := benchdoc.ReadData(dataPath, raw)
	if err != nil {
		return nil, err
	}
	var section bytes.Buffer
	if err := spec.Render(&section, d); err != nil {
		return nil, err
	}
	return section.Bytes(), nil
}

// thisHost describes this machine and the work tree's commit now.
func thisHost() benchdoc.Host {
	commit := "unknown"
	if b, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		commit = strings.TrimSpace(string(b))
	}
	host := "an unknown host"
	if c, err := hostinfo.ReadCPU("/proc/cpuinfo"); err == nil {
		host = fmt.Sprintf("%d CPUs (%s)", c.Count, c.Model)
	}
	return benchdoc.HostNow(commit, time.Now().UTC().Format("2006-01-02 15:04 UTC"), host)
}
