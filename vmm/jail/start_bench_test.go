package jail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStartNoop starts a jailed child that enters the jail and exits
// (the test binary in "noop" mode, a cgroup leaf with memory, cpu and pids
// limits where the controllers exist) and waits for it: the jail's own
// share of a VMM start, without the VM.
func BenchmarkStartNoop(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("SKIP: the jail needs root (namespaces, pivot_root, cgroups)")
	}
	mnt, err := CgroupMount()
	if err != nil {
		b.Skipf("SKIP: no cgroup v2 hierarchy: %v", err)
	}
	ctrl, _ := os.ReadFile(filepath.Join(mnt, "cgroup.controllers"))
	parent := filepath.Join(mnt, fmt.Sprintf("ironvisor-bench-%d", os.Getpid()))
	defer os.Remove(parent)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	state := b.TempDir()
	i := 0
	for b.Loop() {
		s := Spec{
			ID: fmt.Sprintf("b-%d", i), UID: 65534, GID: 65534,
			StateDir: state, CgroupParent: parent,
			Env:   []string{envMode + "=noop"},
			Files: Files{Console: null},
		}
		if hasWord(string(ctrl), "pids") {
			s.PidsMax = PidsBudget(1)
		}
		if hasWord(string(ctrl), "cpu") {
			s.CPUs = 1
		}
		if hasWord(string(ctrl), "memory") {
			s.MemoryMax = MemoryBudget(64 << 20)
		}
		i++
		cmd, err := Start(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("child: %v", err)
		}
		if err := Cleanup(s); err != nil {
			b.Fatal(err)
		}
	}
}
