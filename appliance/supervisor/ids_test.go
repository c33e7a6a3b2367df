package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// sleepJailed is the helper mode of a stand-in VMM that enters its jail and
// sleeps until it is killed (it never answers on its control socket).
func sleepJailed() error {
	if _, err := jail.Enter(); err != nil {
		return err
	}
	time.Sleep(time.Hour)
	return nil
}

// credentials waits until the only process of cgroup leaf has dropped
// root, and returns the Uid and Gid lines of its /proc status.
func credentials(leaf string) string {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		procs, _ := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
		if pid := strings.TrimSpace(string(procs)); pid != "" {
			st, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
			var uid, gid string
			for _, l := range strings.Split(string(st), "\n") {
				if v, ok := strings.CutPrefix(l, "Uid:"); ok {
					uid = strings.Join(strings.Fields(v), ",")
				} else if v, ok := strings.CutPrefix(l, "Gid:"); ok {
					gid = strings.Join(strings.Fields(v), ",")
				}
			}
			if uid != "" && !strings.HasPrefix(uid, "0,") {
				return "uid=" + uid + " gid=" + gid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "no jailed process"
}

// TestEachVMMRunsAsItsOwnUID starts two instances through the supervisor
// (with a stand-in VMM that reports who it runs as) and checks that each
// runs under its own uid and gid from the range, that an instance keeps
// its uid across a restart of the supervisor, and that Forget frees it.
func TestEachVMMRunsAsItsOwnUID(t *testing.T) {
	cgroup := needJail(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	saved := VMMEnv
	VMMEnv = []string{helperEnv + "=sleep-jailed"}
	defer func() { VMMEnv = saved }()
	mod := func(o *Options) { o.Binary, o.UID, o.GID, o.KVMDevice = self, 200000, 300000, "/dev/null" }
	s, _, state := newSup(t, cgroup, mod)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "kernel")
	os.WriteFile(kernel, nil, 0o644)
	run := func(s *Supervisor, id string) string {
		t.Helper()
		spec := RunSpec{ID: id, VCPUs: 1, MemBytes: 16 << 20, Kernel: kernel, ConsoleLog: filepath.Join(dir, id+".log")}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan error)
		go func() { done <- s.Start(ctx, spec) }()
		who := credentials(filepath.Join(cgroup, id))
		cancel() // Start kills the stand-in, which never answers
		<-done
		return who
	}
	a, b := run(s, "i-a"), run(s, "i-b")
	if a != "uid=200000,200000,200000,200000 gid=300000,300000,300000,300000" ||
		b != "uid=200001,200001,200001,200001 gid=300001,300001,300001,300001" {
		t.Fatalf("VMMs ran as %q and %q, want the first two ids of the range, one each", a, b)
	}
	uid, gid, err := s.InstanceIDs("i-b")
	if err != nil || uid != 200001 || gid != 300001 {
		t.Errorf("InstanceIDs(i-b) = %d, %d, %v; want what its VMM ran as", uid, gid, err)
	}
	restarted, err := New(s.opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(restarted, "i-b"); got != b {
		t.Errorf("after a restart i-b ran as %q, want %q as before", got, b)
	}
	if err := restarted.Forget("i-a"); err != nil {
		t.Fatal(err)
	}
	if got := run(restarted, "i-c"); got != a {
		t.Errorf("a new instance after Forget(i-a) ran as %q, want i-a's freed %q", got, a)
	}
	if _, err := os.Stat(filepath.Join(state, "vmm", "i-c", "meta.json")); err != nil {
		t.Error(err)
	}
}
