package racktest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/build/rack"
)

// TestApplianceStartsInstancesAgainAfterPowerCut is issue 12's "a reboot
// of the virtual server with a data disk: the instance runs again": the
// appliance boots on an ext4 data disk and runs a tiny guest; the server
// loses power (QEMU killed, the host's page cache of the disk dropped),
// so every VMM is gone. After the next boot on the same disk the instance
// runs again in a new VMM, with the reason
// orchestrator.ReasonStartedAgain, and its console (which each VMM start
// begins anew) shows the guest's marker again.
func TestApplianceStartsInstancesAgainAfterPowerCut(t *testing.T) {
	t.Parallel()
	artefactsOrSkip(t)
	img := dataDisk(t, t.TempDir(), "ext4", 256<<20)
	const cmdline = "ironvisor.hostname=rack-again ironvisor.data=LABEL=ivdata"
	disk := []string{"-drive", "file=" + img + ",if=virtio,format=raw"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*bootTimeout)
	defer cancel()

	srv := startAppliance(ctx, t, "again1", cmdline, disk)
	admin, first := connect(t, srv)
	var tenant struct{ ID, Token string }
	if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "again"}, &tenant); err != nil {
		t.Fatal(err)
	}
	const marker = "STARTED-AGAIN-MARKER"
	uploadTiny(ctx, t, admin, marker)
	user := *admin
	user.Token = tenant.Token
	var launched []instance
	if err := user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{"image": "tiny", "type": "nano"}, &launched); err != nil || len(launched) != 1 {
		t.Fatalf("launch: %+v, %v", launched, err)
	}
	id := launched[0].ID
	waitInstance(ctx, t, &user, id, "running")
	if n := waitMarkers(ctx, t, &user, id, marker, 1); n != 1 {
		t.Fatalf("console shows the marker %d times before the cut, want 1", n)
	}
	srv.Stop() // the power cut
	dropPageCache(t, img)

	t0 := time.Now()
	srv = startAppliance(ctx, t, "again2", cmdline, disk)
	second, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		t.Fatal(err)
	}
	a2, err := srv.API(8080, second.Fingerprint, first.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	user = *a2
	user.Token = tenant.Token
	in := waitInstance(ctx, t, &user, id, "running")
	if in.Reason != orchestrator.ReasonStartedAgain {
		t.Fatalf("instance %s after the power cut: running (%s), want the reason %q", id, in.Reason, orchestrator.ReasonStartedAgain)
	}
	waitMarkers(ctx, t, &user, id, marker, 1)
	t.Logf("instance %s running again %v after the server's power-on (nested TCG): %q", id, time.Since(t0).Round(time.Millisecond), in.Reason)
	if err := srv.Console.Expect(ctx, "started again 1 of 1 instances"); err != nil {
		t.Error(err)
	}
	if err := srv.Console.NotSeen("IRONVISOR FAILED"); err != nil {
		t.Error(err)
	}
}

// waitMarkers waits until instance id's console shows marker at least n
// times, and returns how many times it does.
func waitMarkers(ctx context.Context, t *testing.T, a *rack.API, id, marker string, n int) int {
	t.Helper()
	for {
		out, err := guestConsole(ctx, a, id)
		if err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(out, marker); c >= n {
			return c
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("console of %s never showed %s %d times: %q", id, marker, n, out)
		}
	}
}
