package deptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The rules on synthetic modules: each test writes a small tree that
// breaks one rule and checks that the rule catches exactly that, so a rule
// that silently stopped matching would fail here rather than pass on the
// real tree.

// writeTree writes files (path → source) under a fresh module
// example.com/m and scans it.
func writeTree(t *testing.T, files map[string]string) *tree {
	t.Helper()
	root := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.22\n"
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := scanTree(root)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// src is a Go file of package name importing the module's folders deps.
func src(name string, deps ...string) string {
	var b strings.Builder
	b.WriteString("package " + name + "\n\n")
	for _, d := range deps {
		b.WriteString("import _ \"example.com/m/" + d + "\"\n")
	}
	b.WriteString("\nvar X int\n")
	return b.String()
}

// cmdUsing is a main that imports deps, so that no package of a synthetic
// tree is an orphan unless a test means it to be.
func cmdUsing(deps ...string) string { return src("main", deps...) }

// wantOnly fails unless got holds exactly one message, and it contains
// every string of want.
func wantOnly(t *testing.T, rule string, got []string, want ...string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: got %d messages %q, want 1", rule, len(got), got)
	}
	for _, w := range want {
		if !strings.Contains(got[0], w) {
			t.Errorf("%s: message %q lacks %q", rule, got[0], w)
		}
	}
}

func TestLayeringAcceptsTheAllowedShape(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"cmd/x/main.go":               cmdUsing("appliance/sup", "vmm/cli"),
		"appliance/sup/sup.go":        src("sup", "vmm/control", "vmm/jail", "vmm/kvm", "vmm/exitcode", "netcfg"),
		"appliance/sup/sup_test.go":   src("sup", "vmm/testutil", "build/rack/gotest"),
		"vmm/cli/cli.go":              src("cli", "vmm/control", "vmm/jail", "vmm/kvm", "vmm/exitcode", "vmm/testutil"),
		"vmm/control/c.go":            src("control"),
		"vmm/jail/j.go":               src("jail"),
		"vmm/kvm/k.go":                src("kvm"),
		"vmm/exitcode/e.go":           src("exitcode"),
		"vmm/testutil/t.go":           src("testutil"),
		"vmm/jail/racktest/doc.go":    "// Package racktest has only tests.\npackage racktest\n",
		"vmm/jail/racktest/r_test.go": src("racktest", "build/rack/gotest"),
		"netcfg/n.go":                 src("netcfg"),
		"build/rack/gotest/g.go":      src("gotest"),
	})
	if bad := checkLayers(tr); len(bad) != 0 {
		t.Errorf("layering: %q", bad)
	}
	if bad := checkOrphans(tr); len(bad) != 0 {
		t.Errorf("orphans: %q", bad)
	}
}

func TestLayeringFailsWhenVMMImportsAppliance(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"cmd/x/main.go":        cmdUsing("vmm/vm"),
		"vmm/vm/vm.go":         src("vm", "appliance/store"),
		"appliance/store/s.go": src("store"),
	})
	wantOnly(t, "vmm → appliance", checkLayers(tr), "vmm/vm/vm.go", "appliance/store", "vmm never imports appliance")
}

func TestLayeringFailsWhenVMMImportsNetcfgOrBuild(t *testing.T) {
	for _, dep := range []string{"netcfg", "build/rack"} {
		tr := writeTree(t, map[string]string{
			"vmm/vm/vm.go": src("vm", dep),
			dep + "/d.go":  src(filepath.Base(dep)),
		})
		wantOnly(t, "vmm → "+dep, checkLayers(tr), "vmm/vm/vm.go", "vmm never imports")
	}
}

func TestLayeringFailsWhenVMMTestImportsBuildBeyondTheHarness(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"vmm/vm/vm.go":       src("vm"),
		"vmm/vm/vm_test.go":  src("vm", "build/disk"),
		"build/disk/disk.go": src("disk"),
	})
	wantOnly(t, "vmm test → build/disk", checkLayers(tr), "vmm/vm/vm_test.go", "vmm never imports build")
}

func TestLayeringFailsWhenNetcfgImportsVMM(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"netcfg/tap_test.go": src("netcfg", "vmm/jail"),
		"netcfg/n.go":        src("netcfg"),
		"vmm/jail/j.go":      src("jail"),
	})
	wantOnly(t, "netcfg → vmm", checkLayers(tr), "netcfg/tap_test.go", "netcfg never imports vmm")
}

func TestLayeringFailsWhenApplianceImportsADevice(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"appliance/supervisor/start.go": src("supervisor", "vmm/devices/virtionet"),
		"vmm/devices/virtionet/net.go":  src("virtionet"),
	})
	wantOnly(t, "appliance → device", checkLayers(tr), "appliance/supervisor/start.go", "vmm/devices/virtionet", "allow-listed")
}

func TestLayeringFailsWhenApplianceCodeImportsTestutil(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"appliance/images/check.go": src("images", "vmm/testutil"),
		"vmm/testutil/t.go":         src("testutil"),
	})
	wantOnly(t, "appliance code → testutil", checkLayers(tr), "appliance/images/check.go", "allow-listed")
}

func TestLayeringExceptionIsForOnePackageOnly(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"appliance/images/check.go": src("images", "vmm/boot"),
		"appliance/api/api.go":      src("api", "vmm/boot"),
		"vmm/boot/boot.go":          src("boot"),
	})
	wantOnly(t, "appliance/api → vmm/boot", checkLayers(tr), "appliance/api/api.go", "allow-listed")
}

func TestOrphanFails(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"cmd/x/main.go":       cmdUsing("config"),
		"config/config.go":    src("config"),
		"appliance/lost/l.go": src("lost"),
		// A package's own external test does not count as an importer.
		"appliance/lost/l_test.go": src("lost_test", "appliance/lost"),
	})
	wantOnly(t, "orphan", checkOrphans(tr), "appliance/lost", "imported by nothing")
}

func TestOrphanSparesMainsTestOnlyPackagesAndGenerateTools(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"cmd/x/main.go":                 cmdUsing("vmm/jail"),
		"vmm/jail/j.go":                 "package jail\n\n//go:generate go run ./gen -o out.go\n",
		"vmm/jail/gen/gen.go":           src("gen"),
		"netcfg/racktest/doc.go":        "// Package racktest has only tests.\npackage racktest\n",
		"netcfg/racktest/rack_test.go":  src("racktest"),
		"build/deptest/deptest_test.go": src("deptest"),
	})
	if bad := checkOrphans(tr); len(bad) != 0 {
		t.Errorf("orphans: %q", bad)
	}
}

func TestOrphanCountsTestOnlyImporters(t *testing.T) {
	tr := writeTree(t, map[string]string{
		"vmm/testutil/t.go": src("testutil"),
		"vmm/vm/vm_test.go": src("vm", "vmm/testutil"),
		"vmm/vm/doc.go":     "// Package vm.\npackage vm\n",
	})
	if bad := checkOrphans(tr); len(bad) != 0 {
		t.Errorf("orphans: %q", bad)
	}
}
