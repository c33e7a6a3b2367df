package gotest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/initramfs"
)

func TestInitScriptOrderAndQuoting(t *testing.T) {
	s := InitScript([]string{"crc32c_generic", "nf_conntrack"}, "TestA|Test'B", 5*time.Minute)
	a := strings.Index(s, "modprobe crc32c_generic ")
	b := strings.Index(s, "modprobe nf_conntrack ")
	run := strings.Index(s, "/pkg.test ")
	if a < 0 || b < 0 || run < 0 || !(a < b && b < run) {
		t.Fatalf("modules not loaded in order before the tests:\n%s", s)
	}
	for _, want := range []string{
		"mount -t cgroup2 cgroup2 /sys/fs/cgroup", `-test.run 'TestA|Test'\''B'`,
		"-test.timeout=4m0s", "echo " + markBegin, markExit + " $status", "poweroff -f",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("init script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(InitScript(nil, "", time.Minute), "-test.run") {
		t.Error("-test.run given for an empty expression")
	}
}

// TestInitScriptShellQuoting runs the quoted expression through a real
// shell, so the quoting is checked by the shell that will parse it.
func TestInitScriptShellQuoting(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("SKIP: no sh: %v", err)
	}
	for _, in := range []string{"Test$HOME", "a'b", `x"y\z`, "a b|c"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(in)).Output()
		if err != nil || string(out) != in {
			t.Errorf("shellQuote(%q) reads back as %q (%v)", in, out, err)
		}
	}
}

func TestTestTimeoutLeavesBootMargin(t *testing.T) {
	for _, c := range []struct{ server, want time.Duration }{
		{5 * time.Minute, 4 * time.Minute},
		{10 * time.Minute, 9 * time.Minute},
		{time.Minute, 48 * time.Second},
	} {
		if got := testTimeout(c.server); got != c.want {
			t.Errorf("testTimeout(%v) = %v, want %v", c.server, got, c.want)
		}
	}
}

// hostKernel returns the artefacts' host kernel or skips.
func hostKernel(t *testing.T) *artefacts.Set {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestWriteOverlayCarriesModulesAndBinary(t *testing.T) {
	set := hostKernel(t)
	if _, err := os.Stat(Busybox); err != nil {
		t.Skipf("SKIP: %s not installed (apt-get install busybox-static): %v", Busybox, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake.test")
	if err := os.WriteFile(bin, []byte("not run"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "o.cpio")
	h := set.HostKernel
	o := Options{Modules: []string{"crc32c_generic", "nf_conntrack", "bonding"},
		Files: []initramfs.Entry{initramfs.File("/guest/extra", 0o644, []byte("x"))}}
	if err := WriteOverlay(img, h.ModulesDir(), h.Release, bin, o); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := initramfs.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Path] = true
	}
	base := "/lib/modules/" + h.Release + "/"
	for _, p := range []string{"/init", "/bin/busybox", "/pkg.test", base + "modules.dep", "/guest/extra"} {
		if !have[p] {
			t.Errorf("%s missing from the overlay", p)
		}
	}
	// nf_conntrack's dependencies (nf_defrag_ipv4, libcrc32c) come along.
	for _, m := range []string{"nf_conntrack.ko", "nf_defrag_ipv4.ko", "libcrc32c.ko", "bonding.ko"} {
		found := false
		for p := range have {
			found = found || (strings.HasPrefix(p, base) && strings.HasSuffix(p, "/"+m))
		}
		if !found {
			t.Errorf("module %s missing from the overlay", m)
		}
	}
}

func TestWriteOverlayRejectsUnknownModule(t *testing.T) {
	set := hostKernel(t)
	h := set.HostKernel
	err := WriteOverlay(filepath.Join(t.TempDir(), "o.cpio"), h.ModulesDir(), h.Release, Busybox,
		Options{Modules: []string{"veth", "no_such_module_xyz"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_module_xyz") {
		t.Fatalf("unknown module accepted: %v", err)
	}
}

func TestCheckPassed(t *testing.T) {
	ok := &Result{Output: "=== RUN   TestA\r\n--- PASS: TestA (0.01s)\r\nPASS\r\n"}
	ft := &fakeTB{TB: t}
	CheckPassed(ft, ok, "TestA")
	if ft.failed {
		t.Fatalf("a clean run failed the check: %v", ft.msgs)
	}
	for name, r := range map[string]*Result{
		"exit":    {Exit: 1, Output: ok.Output},
		"missing": {Output: "--- PASS: TestAB (0.01s)\n"},
		"skip":    {Output: ok.Output + "    x_test.go:9: SKIP: no thing\n--- SKIP: TestB (0.00s)\n"},
	} {
		ft := &fakeTB{TB: t}
		CheckPassed(ft, r, "TestA")
		if !ft.failed {
			t.Errorf("%s: the check passed", name)
		}
	}
}

// fakeTB records failures instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed bool
	msgs   []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.msgs = append(f.msgs, format)
}
