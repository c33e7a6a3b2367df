//go:build rack

// This test needs hardware KVM; it is compiled only with the rack tag and
// runs in appliance/service/racktest.

package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestServiceOnKVM drives a tiny PVH guest through the whole API on real
// KVM (appliance/service/racktest runs it in the rack): launch, running,
// the guest's marker on the console, stop, stopped, start, running,
// terminate, terminated, with the volume and console log gone.
func TestServiceOnKVM(t *testing.T) {
	needKVM(t)
	s := startServe(t, "--insecure-http")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "kvm", "--json")
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("SERVICE-KVM-MARKER\n", testutil.ExitHalt), 0o644)
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	var insts []struct{ ID string }
	start := time.Now()
	s.ok(t, tenant.Token, &insts, "instances", "launch", "--image", "tiny", "--type", "nano", "--wait", "2m", "--json")
	t.Logf("launch to running: %v", time.Since(start))
	id := insts[0].ID
	deadline := time.Now().Add(time.Minute)
	for {
		out := s.ok(t, tenant.Token, nil, "instances", "console", id)
		if strings.Contains(out, "SERVICE-KVM-MARKER") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console never showed the marker: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var in struct{ State, Reason string }
	s.ok(t, tenant.Token, &in, "instances", "stop", id, "--force", "--json")
	if in.State != "stopped" {
		t.Fatalf("stop: %+v", in)
	}
	s.ok(t, tenant.Token, nil, "instances", "start", id, "--wait", "2m")
	s.ok(t, tenant.Token, &in, "instances", "terminate", id, "--json")
	if in.State != "terminated" {
		t.Fatalf("terminate: %+v", in)
	}
	if _, err := os.Stat(filepath.Join(s.data, "consoles", id+".log")); !os.IsNotExist(err) {
		t.Fatalf("console log left after terminate: %v", err)
	}
}
