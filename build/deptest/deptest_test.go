// Package deptest checks house rules on the whole module's imports: unsafe
// only in *_unsafe.go files of vmm/kvm, vmm/memory and vmm/jail, no cgo
// anywhere (the PID 1 binary must stay static), DESIGN's layering (vmm
// imports nothing of appliance, netcfg or build; netcfg nothing of vmm; the
// appliance only allow-listed vmm packages), and no library package that
// nothing imports. Files are read with go/parser, so build tags hide none.
package deptest

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// scanned is the module, scanned once for all the tests.
var scanned = sync.OnceValues(func() (*tree, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	return scanTree(root)
})

// realTree returns the whole module's tree.
func realTree(t *testing.T) *tree {
	t.Helper()
	root := moduleRoot(t)
	tr, err := scanned()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range tr.pkgs {
		n += len(p.files)
	}
	if n < 10 {
		t.Fatalf("walked only %d Go files under %s", n, root)
	}
	return tr
}

func TestImportRules(t *testing.T) {
	for _, p := range realTree(t).pkgs {
		for _, f := range p.files {
			if msg := checkFile(f.rel, f.imports); msg != "" {
				t.Errorf("%s %s", f.rel, msg)
			}
		}
	}
}

// TestLayering checks DESIGN's import rules on the module: vmm imports
// nothing of appliance, netcfg or build; netcfg nothing of vmm; the
// appliance only the allow-listed vmm packages.
func TestLayering(t *testing.T) {
	for _, msg := range checkLayers(realTree(t)) {
		t.Error(msg)
	}
}

// TestNoOrphans checks that every library package of the module is
// imported by another one.
func TestNoOrphans(t *testing.T) {
	for _, msg := range checkOrphans(realTree(t)) {
		t.Error(msg)
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
