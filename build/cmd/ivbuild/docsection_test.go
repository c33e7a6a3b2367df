package main

import "testing"

func TestReplaceSection(t *testing.T) {
	doc := "# Benchmarks\n\n## A\n\nold a\n\n## B\n\nb\n"
	got := replaceSection(doc, "## A", "## A\n\nnew a\n")
	if want := "# Benchmarks\n\n## A\n\nnew a\n\n## B\n\nb\n"; got != want {
		t.Errorf("replace middle:\n%q\nwant\n%q", got, want)
	}
	got = replaceSection(doc, "## B", "## B\n\nnew b\n")
	if want := "# Benchmarks\n\n## A\n\nold a\n\n## B\n\nnew b\n"; got != want {
		t.Errorf("replace last:\n%q\nwant\n%q", got, want)
	}
	got = replaceSection(doc, "## C", "## C\n\nc\n")
	if want := doc + "\n## C\n\nc\n"; got != want {
		t.Errorf("append:\n%q\nwant\n%q", got, want)
	}
}
