package racktest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/build/rack"
)

// TestUEFIDiskOwnsItsState flashes the UEFI disk image onto a larger
// (sparse) disk and boots it twice under OVMF with no -kernel and the
// default ironvisor.data (auto). The first boot finds its blank data
// partition by type and name, grows it to fill the disk, makes its btrfs
// file system with the mkfs.btrfs the image carries and says so, and
// GET /v1/host says root volumes are reflinks there (issue 12: a launch
// copies no image); a tenant is created and QEMU is killed (a power
// cut). The second boot formats nothing, shows no admin token, keeps the
// TLS certificate, and the first boot's token lists the tenant.
func TestUEFIDiskOwnsItsState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*bootTimeout)
	defer cancel()
	img := uefiDisk(ctx, t, dir, "ironvisor.hostname=rack-own")
	if err := os.Truncate(img, 2<<30); err != nil { // the server's disk is larger than the image
		t.Fatal(err)
	}
	boot := func(name string) *rack.Server {
		extra, err := rack.UEFIDiskArgs(dir, img)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := rack.Start(ctx, rack.Options{Name: name, MemoryMiB: 1024, CPUs: 1, LogDir: dir, Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
		start := time.Now()
		if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
			t.Fatalf("%s: no banner: %v\n%s", name, err, srv.Console.Tail(40))
		}
		t.Logf("%s: IRONVISOR READY after %.1fs from QEMU start", name, time.Since(start).Seconds())
		for _, bad := range []string{"IRONVISOR FAILED", "Kernel panic", "WARNING  the state"} {
			if err := srv.Console.NotSeen(bad); err != nil {
				t.Errorf("%s: %v\n%s", name, err, srv.Console.Tail(40))
			}
		}
		return srv
	}

	srv := boot("own1")
	for _, want := range []string{"data: grew /dev/vda2, the Ironvisor data partition, from 8 MiB to ",
		"data: made a btrfs file system LABEL=ivdata on /dev/vda2", "/dev/vda2 (btrfs, LABEL=ivdata"} {
		if err := srv.Console.Seen(want); err != nil {
			t.Error(err)
		}
	}
	a, first := connect(t, srv)
	if first.AdminToken == "" {
		t.Fatal("the first boot on a blank data partition shows no admin token")
	}
	if err := srv.Console.NotSeen("every root volume is a full copy"); err != nil {
		t.Error(err)
	}
	var host apiv1.Host
	if err := a.SendJSON(ctx, "GET", "/v1/host", nil, &host); err != nil {
		t.Fatal(err)
	}
	if s := host.Storage; s == nil || s.FSType != "btrfs" || s.VolumeMethod != "reflink" || !s.CopyOnWrite {
		t.Errorf("GET /v1/host storage = %+v, want btrfs with reflink volumes", s)
	}
	var tenant struct{ ID string }
	if err := a.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "kept"}, &tenant); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	srv = boot("own2")
	if err := srv.Console.NotSeen("data: made"); err != nil {
		t.Errorf("the second boot formatted again: %v", err)
	}
	if err := srv.Console.NotSeen("data: grew"); err != nil {
		t.Errorf("the second boot grew again: %v", err)
	}
	checkStateKept(ctx, t, srv, first, tenant.ID)
}
