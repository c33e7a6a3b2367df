//go:build rack

// TestMemoryMaxEnforced needs the cgroup v2 memory controller, which the
// hosts that run make test keep in a v1 hierarchy; it is compiled only with
// the rack tag and runs in vmm/jail/racktest.

package jail

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMemoryMaxEnforced(t *testing.T) {
	e := newEnv(t)
	if !e.has("memory") {
		t.Skipf("SKIP: the memory controller is not available in cgroup v2 here (controllers: %q; a v1 hierarchy holds it)", e.controllers)
	}
	s := e.spec("t-oom", "oom", nil)
	s.MemoryMax = 48 << 20
	s.Env = append(s.Env, "JAIL_TEST_TOUCH="+strconv.Itoa(256<<20))
	leaf := filepath.Join(e.cgParent, s.ID)
	var events []byte
	r, w, _ := os.Pipe()
	defer r.Close()
	s.Files.Console = w
	cmd, err := Start(s)
	w.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer Cleanup(s)
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	events, _ = os.ReadFile(filepath.Join(leaf, "memory.events"))
	if st, err := ReadStats(s); err != nil || st.OOMKills == 0 {
		t.Errorf("ReadStats after OOM = %+v, %v; want OOMKills > 0", st, err)
	}
	if sig := signalOf(cmd.ProcessState); sig != syscall.SIGKILL {
		t.Fatalf("child touching 256 MiB under memory.max 48 MiB: %v, want OOM SIGKILL", cmd.ProcessState)
	}
	if !strings.Contains(string(events), "oom_kill ") || strings.Contains(string(events), "oom_kill 0") {
		t.Errorf("memory.events = %q, want oom_kill > 0", events)
	}
}
