//go:build rack

// The restart of lost instances (issue 12) needs real VMMs (hardware
// KVM); it is compiled only with the rack tag and runs in
// appliance/service/racktest (and locally: go test -tags rack -run OnKVM).

package service

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestStartAgainAfterKillOnKVM is issue 12's "kill -9 ... of the
// appliance: the instance runs again", through the real binary: two
// instances run, one in a network with a port forward and a public IP;
// "ironvisor serve" is killed with SIGKILL and so is the first one's VMM.
// After the restart the instance whose VMM died runs again in a new VMM,
// with the reason orchestrator.ReasonStartedAgain, its address, tap,
// forward and public IP (checkNet), and the other's VMM was adopted as
// it was.
func TestStartAgainAfterKillOnKVM(t *testing.T) {
	needKVM(t)
	bin := rackIronvisor
	if _, err := os.Stat(bin); err != nil {
		bin = buildBinary(t)
	}
	data := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() { killVMMs(t, data) })
	h := newCrashHost(t)
	h.reaper = startOrphanReaper(t)
	a := startCrashApp(t, h, bin, data)
	url := a.waitUp(t)
	s := server{bin: bin, data: data, url: url}
	admin := apiClient{url: url, token: s.adminToken(t), hc: h.hc}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var tn apiv1.TenantCreated
	if _, err := admin.do(ctx, "POST", "/v1/tenants", map[string]string{"name": "again"}, &tn); err != nil {
		t.Fatal(err)
	}
	user := apiClient{url: url, token: tn.Token, hc: h.hc}
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "tiny.elf"), filepath.Join(dir, "initrd")
	if err := os.WriteFile(kernel, testutil.PVHHello("AGAIN\n", testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initrd, bytes.Repeat([]byte("again\n"), 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	nc := &netClient{m: &crashModel{}, c: user, admin: admin, kernel: kernel, rd: initrd}
	if code, err := nc.upload(ctx, "tiny"); err != nil {
		t.Fatalf("upload: %d %v", code, err)
	}
	for _, q := range []struct {
		path string
		body any
	}{
		{"/v1/networks", map[string]any{"name": "web", "cidr": "10.99.7.0/24"}},
		{"/v1/security-groups", map[string]any{"name": "http", "ingress": []map[string]any{{"proto": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}}}},
	} {
		if _, err := user.do(ctx, "POST", q.path, q.body, nil); err != nil {
			t.Fatal(err)
		}
	}
	launch := func(body map[string]any) instance {
		var got []instance
		if _, err := user.do(ctx, "POST", "/v1/instances", body, &got); err != nil || len(got) != 1 {
			t.Fatalf("launch: %+v %v", got, err)
		}
		return waitState(t, ctx, user, got[0].ID, "running")
	}
	lost := launch(map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"http"}})
	kept := launch(map[string]any{"image": "tiny", "type": "nano"})
	if _, err := user.do(ctx, "POST", "/v1/port-forwards", map[string]any{"instance": lost.ID, "proto": "tcp", "public_port": 8080, "port": 80}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := user.do(ctx, "POST", "/v1/public-ips", map[string]any{"instance": lost.ID}, nil); err != nil {
		t.Fatal(err)
	}

	// kill -9 of the appliance, and of the lost instance's VMM.
	a.killAfter(t, 0)
	vmmPID := 0
	for pid, id := range vmmProcesses(t, data) {
		if id == lost.ID {
			vmmPID = pid
		}
	}
	if vmmPID == 0 {
		t.Fatalf("no VMM process for %s: %v", lost.ID, vmmProcesses(t, data))
	}
	syscall.Kill(vmmPID, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := vmmProcesses(t, data)[vmmPID]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VMM %d of %s still alive 10s after SIGKILL", vmmPID, lost.ID)
		}
		time.Sleep(20 * time.Millisecond) // the orphan reaper's turn
	}

	t0 := time.Now()
	a = startCrashApp(t, h, bin, data)
	url = a.waitUp(t)
	admin.url, user.url = url, url
	if n := a.reattached(t); n != 1 {
		t.Fatalf("reattached %d VMMs, want 1 (%s's)", n, kept.ID)
	}
	if n := a.restarted(t); n != 1 {
		t.Fatalf("started again %d instances, want 1 (%s)", n, lost.ID)
	}
	got := waitState(t, ctx, user, lost.ID, "running")
	t.Logf("instance %s running again %v after the appliance's start: %q", lost.ID, time.Since(t0).Round(time.Millisecond), got.Reason)
	if got.Reason != orchestrator.ReasonStartedAgain || !slices.Equal(got.IPs, lost.IPs) || len(got.IPs) != 1 {
		t.Fatalf("%s: %s (%s) IPs %v, want running (%s) with %v", lost.ID, got.State, got.Reason, got.IPs, orchestrator.ReasonStartedAgain, lost.IPs)
	}
	if k := waitState(t, ctx, user, kept.ID, "running"); k.Reason != kept.Reason {
		t.Fatalf("%s, whose VMM survived: reason %q, was %q", kept.ID, k.Reason, kept.Reason)
	}
	procs := vmmProcesses(t, data)
	var holders []string
	for _, id := range procs {
		holders = append(holders, id)
	}
	slices.Sort(holders)
	if want := []string{kept.ID, lost.ID}; !slices.Equal(holders, slices.Sorted(slices.Values(want))) {
		t.Fatalf("VMM processes for %v, want %v", holders, want)
	}
	var list []instance
	if _, err := admin.do(ctx, "GET", "/v1/instances", nil, &list); err != nil {
		t.Fatal(err)
	}
	checkNet(t, h, data, readNetView(t, admin, user, list))

	for _, id := range []string{lost.ID, kept.ID} {
		if _, err := user.do(ctx, "DELETE", "/v1/instances/"+id, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	a.stop(t)
}

// waitState polls instance id until it is in state want, failing once it
// is stopped or terminated instead, or at ctx's end.
func waitState(t *testing.T, ctx context.Context, c apiClient, id, want string) instance {
	t.Helper()
	for {
		var in instance
		if _, err := c.do(ctx, "GET", "/v1/instances/"+id, nil, &in); err != nil {
			t.Fatal(err)
		}
		if in.State == want {
			return in
		}
		if in.State == "stopped" || in.State == "terminated" {
			t.Fatalf("instance %s is %s (%s), want %s", id, in.State, in.Reason, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instance %s still %s (%s), want %s", id, in.State, in.Reason, want)
		case <-time.After(50 * time.Millisecond): // the API has no state stream
		}
	}
}
