package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/build/benchdoc"
)

// TestBenchmarksDocMatchesData: for every spec in build/bench with data
// in docs/bench, docs/benchmarks.md holds exactly the section that data
// renders to; a spec without data (never measured) has no section at all.
// A figure edited by hand, a spec changed without rendering again, or a
// section whose data was never kept fails here.
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
		data := filepath.Join(root, "docs", "bench", name+".txt")
		if _, err := os.Stat(data); errors.Is(err, fs.ErrNotExist) {
			if strings.Contains(string(doc), "\n## "+spec.Title+"\n") {
				t.Errorf("docs/benchmarks.md has a section %q, but there is no docs/bench/%s.txt to write it from", spec.Title, name)
			}
			continue
		}
		section, err := renderSection(spec, data)
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
