package boot

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/u-root/u-root/pkg/kmodule"
)

// fakeModules lays out lib/modules/KVER with a modules.dep and a
// modules.builtin under a temporary root.
func fakeModules(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "lib/modules/6.1.0-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dep := strings.Join([]string{
		"kernel/arch/x86/kvm/kvm.ko.xz:",
		"kernel/arch/x86/kvm/kvm-amd.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz",
		"kernel/drivers/net/tun.ko.xz:",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestLoadModulesWithDependencies(t *testing.T) {
	root := fakeModules(t)
	var mu sync.Mutex
	var loaded []string
	opts := kmodule.ProbeOpts{RootDir: root, KVer: "6.1.0-test", IgnoreProcMods: true,
		DryRunCB: func(p string) { mu.Lock(); loaded = append(loaded, filepath.Base(p)); mu.Unlock() }}
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, f) }
	rep, err := LoadModules([]string{"kvm_amd", "tun", "virtio_pci", "tg3"}, opts, logf)
	if err != nil {
		t.Fatalf("LoadModules: %v", err)
	}
	// Modules load concurrently, so only the dependency order is fixed.
	sorted := append([]string{}, loaded...)
	sort.Strings(sorted)
	if strings.Join(sorted, " ") != "kvm-amd.ko.xz kvm.ko.xz tun.ko.xz" || indexOf(loaded, "kvm.ko.xz") > indexOf(loaded, "kvm-amd.ko.xz") {
		t.Errorf("loaded files %v, want kvm, kvm-amd (after kvm) and tun once each", loaded)
	}
	if !reflect.DeepEqual(rep.Loaded, []string{"kvm_amd", "tun", "virtio_pci"}) || !reflect.DeepEqual(rep.Missing, []string{"tg3"}) {
		t.Errorf("report = %+v", rep)
	}
	if len(logs) != 2 {
		t.Errorf("logs = %q, want the missing module and the summary", logs)
	}
}

func TestLoadModulesWithoutModulesDep(t *testing.T) {
	_, err := LoadModules([]string{"kvm"}, kmodule.ProbeOpts{RootDir: t.TempDir(), KVer: "none"}, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "module dependencies") {
		t.Errorf("LoadModules without modules.dep: %v", err)
	}
}

// indexOf returns the position of s in list, or -1.
func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
