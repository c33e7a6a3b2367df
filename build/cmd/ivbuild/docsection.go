package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// runDocSection implements `ivbuild docsection FILE`: it reads a markdown
// section ("## Title" and its body) on stdin and replaces the section with
// the same title in FILE, or appends it. This is how `make bench` scripts
// update docs/benchmarks.md without touching each other's sections.
func runDocSection(args []string) int {
	fs := flag.NewFlagSet("docsection", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: SCRIPT | ivbuild docsection FILE\n\nReplaces (or appends) the \"## Title\" section read on stdin in FILE.\n")
	}
	fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = updateSection(fs.Arg(0), in)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild docsection:", err)
		return 1
	}
	return 0
}

// updateSection replaces or appends section in the markdown file p.
func updateSection(p string, section []byte) error {
	section = append(bytes.TrimSpace(section), '\n')
	first, _, _ := strings.Cut(string(section), "\n")
	if !strings.HasPrefix(first, "## ") {
		return fmt.Errorf("section must start with a \"## \" heading, got %q", first)
	}
	old, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		old = []byte("# Benchmarks\n")
	} else if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(replaceSection(string(old), first, string(section))), 0o644)
}

// replaceSection returns doc with the section under heading replaced by
// section (which starts with heading), or with section appended.
func replaceSection(doc, heading, section string) string {
	lines := strings.SplitAfter(doc, "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		t := strings.TrimRight(l, "\n")
		if start < 0 && t == heading {
			start = i
			continue
		}
		if start >= 0 && strings.HasPrefix(t, "## ") {
			end = i
			break
		}
	}
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	tail := strings.Join(lines[end:], "")
	if tail != "" {
		section += "\n"
	}
	return strings.Join(lines[:start], "") + section + tail
}
