//go:build rack

// This test needs hardware KVM; it is compiled only with the rack tag and
// runs in appliance/service/racktest.

package service

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestResizeOnKVM resizes an instance through the API and checks that the
// guest sees the new size: a PVHSize guest launched as nano reports one
// CPU and 64 MiB; a PATCH while it runs is a 409 that says why and changes
// nothing; stopped, it is patched to medium, and started again it reports
// the two CPUs it started and 1024 MiB.
func TestResizeOnKVM(t *testing.T) {
	needKVM(t)
	s := startServe(t, "--insecure-http")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "resize", "--json")
	tok := tenant.Token
	kernel := filepath.Join(t.TempDir(), "size.elf")
	if err := os.WriteFile(kernel, testutil.PVHSize(testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok(t, admin, nil, "images", "upload", "--name", "size", "--kernel", kernel, "--cmdline", "console=ttyS0")
	var insts []instance
	s.ok(t, tok, &insts, "instances", "launch", "--image", "size", "--type", "nano", "--wait", "2m", "--json")
	id := insts[0].ID
	s.waitSize(t, tok, id, testutil.Size{CPUs: 1, MemMiB: 64})

	code, b := s.call(t, tok, "PATCH", "/v1/instances/"+id, map[string]string{"type": "medium"})
	if code != http.StatusConflict || !strings.Contains(string(b), "resize requires state stopped, instance is running") {
		t.Fatalf("PATCH while running: HTTP %d %s, want 409 with the reason", code, b)
	}
	if in := s.get(t, tok, id); in.State != "running" || in.Type != "nano" {
		t.Fatalf("after the refused PATCH: %+v", in)
	}

	var in instance
	s.ok(t, tok, &in, "instances", "stop", id, "--force", "--json")
	if in.State != "stopped" {
		t.Fatalf("stop: %+v", in)
	}
	code, b = s.call(t, tok, "PATCH", "/v1/instances/"+id, map[string]string{"type": "medium"})
	if code != http.StatusOK {
		t.Fatalf("PATCH while stopped: HTTP %d %s", code, b)
	}
	if in = s.get(t, tok, id); in.State != "stopped" || in.Type != "medium" || in.VCPUs != 2 || in.MemBytes != 1<<30 {
		t.Fatalf("after PATCH to medium: %+v", in)
	}
	s.ok(t, tok, nil, "instances", "start", id, "--wait", "2m")
	s.waitSize(t, tok, id, testutil.Size{CPUs: 2, MemMiB: 1024})
	s.ok(t, tok, &in, "instances", "terminate", id, "--json")
	if in.State != "terminated" {
		t.Fatalf("terminate: %+v", in)
	}
}

// waitSize waits for the PVHSize guest of instance id to report its size
// and checks that the latest report is want.
func (s server) waitSize(t *testing.T, token, id string, want testutil.Size) {
	t.Helper()
	start := time.Now()
	out := s.waitConsole(t, token, id, want.String(), 2*time.Minute, func(c string) bool {
		r := testutil.ParseSizes(c)
		return len(r) > 0 && r[len(r)-1] == want
	})
	t.Logf("%s: %s seen after %v (console %q)", id, testutil.SizeMarker, time.Since(start), out)
}
