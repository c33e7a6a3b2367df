package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/build/benchdoc"
)

// TestBenchmarksDocMatchesData: every spec in build/bench has its data
// in docs/bench, and docs/benchmarks.md holds exactly the section that
// data renders to. A figure edited by hand, a spec changed without
// rendering again, or a section whose data was never kept fails here.
func TestBenchmarksDocMatchesData(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	specs, err := filepath.Glob(filepath.Join(root, "build", "bench", "*.md"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no specs in build/bench: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range specs {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := benchdoc.ParseSpec(p, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".md")
		section, err := renderSection(spec, filepath.Join(root, "docs", "bench", name+".txt"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s := strings.TrimSpace(string(section)) + "\n"
		if got := replaceSection(string(doc), "## "+spec.Title, s); got != string(doc) {
			t.Errorf("docs/benchmarks.md's section %q is not what docs/bench/%s.txt renders to; run `ivbuild bench -render build/bench/%s.md`", spec.Title, name, name)
		}
	}
}
