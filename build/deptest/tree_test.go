package deptest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// goFile is one Go file of the tree: its path from the module root (with
// slashes), whether it is a test file, and its imports.
type goFile struct {
	rel     string
	test    bool
	imports []string
}

// pkg is one folder's package, as the import rules see it.
type pkg struct {
	dir      string // folder from the module root, with slashes ("." for the root)
	name     string // package name of the non-test files ("" when there are none)
	decls    bool   // the non-test files declare something
	hasTests bool
	files    []goFile
}

// testOnly reports whether p exists only for its tests: its non-test files,
// if any, hold no declarations (a doc.go at most), like the racktest
// packages and build/deptest itself.
func (p *pkg) testOnly() bool { return p.hasTests && !p.decls }

// tree is a module's Go files grouped by package, with what the import
// rules need: which packages each imports, and which are tools run by
// go generate.
type tree struct {
	module string          // the module path from go.mod
	pkgs   map[string]*pkg // by folder
	// generated are the folders of the programs //go:generate runs with
	// "go run ./DIR" (a tool that only go generate runs is imported by
	// nothing and is no orphan).
	generated map[string]bool
}

// scanTree reads every Go file below root (skipping testdata and hidden
// folders) with go/parser, ignoring build constraints, so files behind a
// tag (rack, a GOOS) are checked too.
func scanTree(root string) (*tree, error) {
	mod, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	t := &tree{module: mod, pkgs: map[string]*pkg{}, generated: map[string]bool{}}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return t.addFile(fset, p, filepath.ToSlash(rel))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// addFile parses one file into t.
func (t *tree) addFile(fset *token.FileSet, abs, rel string) error {
	f, err := parser.ParseFile(fset, abs, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	dir := path.Dir(rel)
	p := t.pkgs[dir]
	if p == nil {
		p = &pkg{dir: dir}
		t.pkgs[dir] = p
	}
	gf := goFile{rel: rel, test: strings.HasSuffix(rel, "_test.go")}
	for _, is := range f.Imports {
		v, _ := strconv.Unquote(is.Path.Value)
		gf.imports = append(gf.imports, v)
	}
	p.files = append(p.files, gf)
	if gf.test {
		p.hasTests = true
	} else {
		p.name = f.Name.Name
		p.decls = p.decls || hasDecls(f)
	}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if tool, ok := generateTool(c.Text); ok {
				t.generated[path.Join(dir, tool)] = true
			}
		}
	}
	return nil
}

// hasDecls reports whether f declares anything besides its imports.
func hasDecls(f *ast.File) bool {
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			continue
		}
		return true
	}
	return false
}

// generateTool returns DIR from a "//go:generate go run ./DIR ..." comment.
func generateTool(comment string) (string, bool) {
	args, ok := strings.CutPrefix(comment, "//go:generate ")
	if !ok {
		return "", false
	}
	fields := strings.Fields(args)
	if len(fields) < 3 || fields[0] != "go" || fields[1] != "run" || !strings.HasPrefix(fields[2], "./") {
		return "", false
	}
	return path.Clean(fields[2]), true
}

// modulePath reads the module line of a go.mod file.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// local returns the folder of an import path inside the module, or false
// for the standard library and other modules.
func (t *tree) local(imp string) (string, bool) {
	if imp == t.module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(imp, t.module+"/")
	return rest, ok
}

// under reports whether dir is top or a folder below it.
func under(dir, top string) bool { return dir == top || strings.HasPrefix(dir, top+"/") }
