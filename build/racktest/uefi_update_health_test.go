package racktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/disk"
	"github.com/ironvisor/ironvisor/build/rack"
)

// sourcesDoc is the configuration's part of /v1/host.
type sourcesDoc struct {
	ConfigSources []struct {
		Source, Where, Error string
		Applied              bool
		Ignored              []string
	} `json:"config_sources"`
}

// serveConfigDoc writes doc to dir/name, serves it over HTTP to the rack
// server (serveFile) and returns its ironvisor.config value: the URL with
// the document's SHA-256, or with a wrong one when badSum.
func serveConfigDoc(t *testing.T, dir, name, doc string, badSum bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(doc))
	if badSum {
		sum = sha256.Sum256([]byte(doc + " "))
	}
	return serveFile(t, path) + "#sha256=" + hex.EncodeToString(sum[:])
}

// checkURLSource checks /v1/host's config URL source: applied, or not
// with an error containing want.
func checkURLSource(ctx context.Context, t *testing.T, a *rack.API, what string, applied bool, want string) {
	t.Helper()
	var doc sourcesDoc
	if err := a.GetJSON(ctx, "/v1/host", &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.ConfigSources {
		if s.Source != "url" {
			continue
		}
		if s.Applied != applied || !strings.Contains(s.Error, want) {
			t.Errorf("%s: config url source %+v, want applied=%v with error %q", what, s, applied, want)
		}
		t.Logf("%s: config url source: applied=%v error=%q", what, s.Applied, s.Error)
		return
	}
	t.Errorf("%s: no url source in /v1/host config_sources %+v", what, doc.ConfigSources)
}

// unhealthyRollback updates the box to a build whose PID 1 runs and
// serves the API but whose health check fails (the test-only hook
// ironvisor.test_hook=unhealthy), with one try and a 15 s deadline set
// by its config URL: the trial boot comes up, reboots itself at the
// deadline, and systemd-boot falls back to the previous slot. It checks
// the outcome and returns how long the request to the instance running
// again took.
func unhealthyRollback(ctx context.Context, t *testing.T, srv *rack.Server, a *rack.API, dir, id, cfgURL string) time.Duration {
	t.Helper()
	set := artefactsOrSkip(t)
	sick := filepath.Join(dir, "unhealthy.efi")
	buildUKI(ctx, t, sick, disk.UKIOptions{Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(),
		Cmdline: "console=ttyS0 ironvisor.hostname=rack-upd ironvisor.test_hook=unhealthy ironvisor.config=" + cfgURL,
		Version: "rack-3-unhealthy"})
	start := time.Now()
	postUpdate(ctx, t, a, sick, "", 1)
	trial := "update: trial boot of slot a (version rack-3-unhealthy"
	if err := srv.Console.Expect(ctx, trial); err != nil {
		t.Fatalf("no trial boot of the unhealthy build: %v\n%s", err, srv.Console.Tail(40))
	}
	waitReady(ctx, t, srv, "unhealthy trial boot")
	if err := srv.Console.Seen("it is blessed once healthy, within 15s"); err != nil {
		t.Errorf("the config URL's update_deadline was not applied: %v", err)
	}
	if err := srv.Console.Expect(ctx, "; rebooting to spend a try"); err != nil {
		t.Fatalf("the unhealthy trial boot did not reboot itself: %v\n%s", err, srv.Console.Tail(40))
	}
	waitReady(ctx, t, srv, "fallback from the unhealthy build")
	doc := waitOutcome(ctx, t, a, "rolled back")
	waitResumed(ctx, t, a, id)
	took := time.Since(start)
	u := doc.Update
	if u.Booted != "b" || u.BootedVersion != "rack-2" || u.Last.Version != "rack-3-unhealthy" ||
		!strings.Contains(u.Last.Reason, "used up its 1 boot tries without becoming healthy: not healthy within 15s: ") {
		t.Errorf("after the unhealthy update: %+v last %+v, want rack-2 booted from b and the trial's failure", u, u.Last)
	}
	t.Logf("unhealthy rollback reason: %s", u.Last.Reason)
	t.Logf("unhealthy rollback: request to back on the previous version with the instance running %.1fs", took.Seconds())
	return took
}
