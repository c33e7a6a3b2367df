// Package deptest checks house rules on the whole module's imports: unsafe
// only in *_unsafe.go files of vmm/kvm, vmm/memory and vmm/jail, and no cgo anywhere
// (the PID 1 binary must stay static).
package deptest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// unsafeAllowed are the folders whose *_unsafe.go files may import unsafe:
// KVM's ioctls, guest memory, and vmm/jail's seccomp(2) call, which hands
// the kernel a pointer to the precompiled filter program.
var unsafeAllowed = map[string]bool{"vmm/kvm": true, "vmm/memory": true, "vmm/jail": true}

// moduleRoot returns the repository root (two levels up from here).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// checkFile returns a rule violation for one file's imports, or "".
func checkFile(rel string, imports []string) string {
	dir := filepath.ToSlash(filepath.Dir(rel))
	base := filepath.Base(rel)
	for _, imp := range imports {
		switch imp {
		case "C":
			return "imports C (cgo); the appliance binary must be static"
		case "unsafe":
			named := strings.HasSuffix(base, "_unsafe.go") || strings.HasSuffix(base, "_unsafe_test.go")
			if !unsafeAllowed[dir] || !named {
				return "imports unsafe; only *_unsafe.go files in vmm/kvm, vmm/memory and vmm/jail may"
			}
		}
	}
	return ""
}

func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		var imps []string
		for _, is := range f.Imports {
			v, _ := strconv.Unquote(is.Path.Value)
			imps = append(imps, v)
		}
		rel, _ := filepath.Rel(root, p)
		if msg := checkFile(rel, imps); msg != "" {
			t.Errorf("%s %s", rel, msg)
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("walked only %d Go files under %s", files, root)
	}
}

func TestCheckFileCatchesViolations(t *testing.T) {
	for rel, want := range map[string]bool{
		"vmm/kvm/abi_unsafe.go":          true,
		"vmm/kvm/abi.go":                 false,
		"appliance/api/x_unsafe.go":      false,
		"vmm/memory/mmap_unsafe_test.go": true,
	} {
		if ok := checkFile(rel, []string{"unsafe"}) == ""; ok != want {
			t.Errorf("unsafe in %s: allowed=%v, want %v", rel, ok, want)
		}
	}
	if checkFile("vmm/kvm/a_unsafe.go", []string{"fmt", "C"}) == "" {
		t.Error("cgo import not caught")
	}
}
