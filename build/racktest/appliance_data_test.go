package racktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/build/rack"
)

// TestApplianceKeepsStateOnDisk boots the appliance twice on the same
// ext4 data disk, found by its label (ironvisor.data=LABEL=ivdata). The
// first boot shows the admin token and a tenant is created; QEMU is then
// killed (a power cut). The second boot shows no token, keeps the TLS
// certificate, and the first boot's token still lists the tenant.
func TestApplianceKeepsStateOnDisk(t *testing.T) {
	t.Parallel()
	artefactsOrSkip(t)
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Fatalf("mkfs.ext4 not installed (make deps installs e2fsprogs): %v", err)
	}
	img := filepath.Join(t.TempDir(), "data.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20)
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-L", "ivdata", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	const cmdline = "ironvisor.hostname=rack-data ironvisor.data=LABEL=ivdata"
	disk := []string{"-drive", "file=" + img + ",if=virtio,format=raw"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*bootTimeout)
	defer cancel()

	srv := startAppliance(ctx, t, "data1", cmdline, disk)
	a, first := connect(t, srv)
	if first.AdminToken == "" {
		t.Fatal("the first boot on an empty data disk shows no admin token")
	}
	if err := srv.Console.Seen("(ext4, LABEL=ivdata"); err != nil {
		t.Error(err)
	}
	if err := srv.Console.NotSeen("WARNING  the state"); err != nil {
		t.Error(err)
	}
	if err := srv.Console.NotSeen("IRONVISOR FAILED"); err != nil {
		t.Error(err)
	}
	var tenant struct{ ID string }
	if err := a.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "kept"}, &tenant); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	srv = startAppliance(ctx, t, "data2", cmdline, disk)
	checkStateKept(ctx, t, srv, first, tenant.ID)
}

// checkStateKept checks a second boot of srv against its first, whose
// banner was first and which created the tenant "kept" with ID id: no
// admin token shown, the same TLS certificate, the first token still
// valid and the tenant still there, and no failed boot step.
func checkStateKept(ctx context.Context, t *testing.T, srv *rack.Server, first rack.Banner, id string) {
	t.Helper()
	second, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		t.Fatal(err)
	}
	if second.AdminToken != "" {
		t.Errorf("the second boot shows an admin token again")
	}
	if err := srv.Console.Seen("token created at first start"); err != nil {
		t.Error(err)
	}
	if second.Fingerprint != first.Fingerprint {
		t.Errorf("certificate changed across a reboot: %s, then %s", first.Fingerprint, second.Fingerprint)
	}
	a, err := srv.API(8080, second.Fingerprint, first.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	var tenants []struct{ ID, Name string }
	if err := a.GetJSON(ctx, "/v1/tenants", &tenants); err != nil {
		t.Fatalf("the first boot's admin token after a reboot: %v", err)
	}
	found := false
	for _, tn := range tenants {
		found = found || tn.ID == id && tn.Name == "kept"
	}
	if !found {
		t.Errorf("tenants after a reboot = %+v, want %s (kept)", tenants, id)
	}
	if strings.Contains(srv.Console.String(), "IRONVISOR FAILED") {
		t.Errorf("the second boot reported a failure:\n%s", srv.Console.Tail(40))
	}
}
