//go:build rack

// TestCgroupLimitsInLeaf needs the cgroup v2 pids and io controllers, which
// the hosts that run make test keep in v1 hierarchies; it is compiled only
// with the rack tag and runs in vmm/jail/racktest.

package jail

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCgroupLimitsInLeaf(t *testing.T) {
	e := newEnv(t)
	if !e.has("pids") || !e.has("io") {
		t.Skipf("SKIP: the pids and io controllers are not both in cgroup v2 here (controllers: %q)", e.controllers)
	}
	s := e.spec("t-limits", "block", nil)
	s.PidsMax, s.IOWeight = PidsBudget(2), 200
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	want := map[string]string{"pids.max": strconv.FormatInt(s.PidsMax, 10), "io.weight": "default 200"}
	if maj, min, ok, err := DiskDevice(self); err != nil {
		t.Fatal(err)
	} else if ok {
		s.IOMax = []IOLimit{{Major: maj, Minor: min, WriteBPS: 50 << 20}}
		want["io.max"] = devName(maj, min) + " rbps=max wbps=52428800 riops=max wiops=max"
	} else {
		t.Log("the test binary is on no block device: io.max not checked")
	}
	cmd := startBlocked(t, s)
	defer func() { Cleanup(s); cmd.Wait() }()
	leaf := filepath.Join(e.cgParent, s.ID)
	for f, v := range want {
		b, err := os.ReadFile(filepath.Join(leaf, f))
		if got := strings.TrimSpace(string(b)); err != nil || got != v {
			t.Errorf("%s = %q, %v; want %q", f, got, err, v)
		}
	}
}
