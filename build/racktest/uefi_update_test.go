package racktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/disk"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// updateDoc is the part of /v1/host the update test reads.
type updateDoc struct {
	Version string `json:"version"`
	Update  *struct {
		Booted        string `json:"booted"`
		BootedVersion string `json:"booted_version"`
		Trial         bool   `json:"trial"`
		Error         string `json:"error"`
		Slots         []struct {
			Name, File, Version, State string
			Booted                     bool
		} `json:"slots"`
		Last *struct {
			Outcome, Slot, Version, FromSlot, Reason string
			Resumed                                  []string
		} `json:"last"`
	} `json:"update"`
}

// TestUEFIDiskUpdatesWithRollback boots the UEFI disk image (systemd-boot,
// slot A, version rack-1) under OVMF, with a running instance, and then,
// in one boot sequence of one server:
//   - updates to a good build (the same kernel and initramfs, version
//     rack-2), uploaded through POST /v1/host/update: the box reboots into
//     slot B, blesses it once healthy, /v1/host shows rack-2 booted from
//     b, and the instance runs again; the downtime is logged (API down to
//     API up, and to the instance running);
//   - updates to a build whose PID 1 runs but never becomes healthy (the
//     test-only ironvisor.test_hook=unhealthy, with a 15 s deadline from
//     its config URL), one try: the trial boot reboots itself and the box
//     is back on rack-2 (unhealthyRollback);
//   - updates to a build that cannot become healthy (its command line
//     names an init that does not exist, so the kernel panics and reboots),
//     fetched by the box from a URL, with one try: the box is back on
//     rack-2 from slot B by itself, /v1/host says slot A was rolled back
//     and why, and the instance runs again.
//
// The first boot's ironvisor.config URL has a wrong checksum: the box
// says so on the console and in /v1/host and comes up on its other
// sources; rack-2's is right and applied.
func TestUEFIDiskUpdatesWithRollback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*bootTimeout)
	defer cancel()
	set := artefactsOrSkip(t)
	badCfg := serveConfigDoc(t, dir, "rack-1.json", `{"cpu_overcommit":"2"}`, true)
	goodCfg := serveConfigDoc(t, dir, "rack-2.json", `{"cpu_overcommit":"2"}`, false)
	sickCfg := serveConfigDoc(t, dir, "rack-3.json", `{"update_deadline":"15s"}`, false)
	img := uefiDiskVersion(ctx, t, dir, "ironvisor.hostname=rack-upd ironvisor.config="+badCfg, "rack-1")
	if err := os.Truncate(img, 2<<30); err != nil {
		t.Fatal(err)
	}
	extra, err := rack.UEFIDiskArgs(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	qemuStart := time.Now()
	srv, err := rack.Start(ctx, rack.Options{Name: "upd", MemoryMiB: 1024, CPUs: 1, LogDir: dir, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	waitReady(ctx, t, srv, "first boot")
	coldBoot := time.Since(qemuStart)
	a, _ := connect(t, srv)
	doc := hostUpdate(ctx, t, a)
	if doc.Update == nil || doc.Update.Booted != "a" || doc.Update.BootedVersion != "rack-1" || len(doc.Update.Slots) != 1 {
		t.Fatalf("first boot: update = %+v, want slot a booted with rack-1", doc.Update)
	}
	if err := srv.Console.Seen("IRONVISOR FAILED step=config-url: ironvisor.config=" + badCfg + ": sha256 mismatch"); err != nil {
		t.Error(err)
	}
	checkURLSource(ctx, t, a, "first boot", false, "sha256 mismatch")
	id := launchHalting(ctx, t, a)

	// A good build, uploaded.
	good := filepath.Join(dir, "good.efi")
	buildUKI(ctx, t, good, disk.UKIOptions{Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(),
		Cmdline: "console=ttyS0 ironvisor.hostname=rack-upd ironvisor.config=" + goodCfg, Version: "rack-2"})
	start := time.Now()
	postUpdate(ctx, t, a, good, "", 3)
	down, up := waitDownUp(ctx, t, srv, a, start)
	waitReady(ctx, t, srv, "good update")
	doc = waitOutcome(ctx, t, a, "updated")
	running := waitInstance(ctx, t, a, id, "running")
	resumed, requestToDown := time.Since(down), down.Sub(start)
	t.Logf("update downtime: request to API down %.1fs, API down to API up %.1fs, to blessed and instance %s running %.1fs (%s)",
		down.Sub(start).Seconds(), up.Sub(down).Seconds(), id, resumed.Seconds(), running.Reason)
	u := doc.Update
	if u.Booted != "b" || u.BootedVersion != "rack-2" || u.Trial || u.Last.Slot != "b" || len(u.Last.Resumed) != 1 {
		t.Errorf("after the good update: %+v last %+v, want rack-2 booted from b, blessed, one instance resumed", u, u.Last)
	}
	if err := srv.Console.Seen("update: slot b (version rack-2) is healthy: blessed"); err != nil {
		t.Error(err)
	}
	checkURLSource(ctx, t, a, "good update", true, "")

	// A build whose PID 1 runs but never becomes healthy, one try.
	sick := unhealthyRollback(ctx, t, srv, a, dir, id, sickCfg)

	// A build that cannot become healthy, fetched from a URL, one try.
	bad := filepath.Join(dir, "bad.efi")
	buildUKI(ctx, t, bad, disk.UKIOptions{Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(),
		Cmdline: "console=ttyS0 panic=3 rdinit=/no-such-init", Version: "rack-4-broken"})
	url := serveFile(t, bad)
	start = time.Now()
	postUpdate(ctx, t, a, "", url, 1)
	if _, err := srv.Console.ExpectRegexp(ctx, regexp.MustCompile(`Kernel panic[^\n]*\n`)); err != nil {
		t.Fatalf("the broken build did not panic: %v\n%s", err, srv.Console.Tail(30))
	}
	waitReady(ctx, t, srv, "fallback")
	doc = waitOutcome(ctx, t, a, "rolled back")
	waitResumed(ctx, t, a, id)
	rollback := time.Since(start)
	t.Logf("rollback: request to back on the previous version with the instance running %.1fs", rollback.Seconds())
	// One line for build/bench/update.sh.
	t.Logf("update-bench: cold_boot_s=%.1f request_to_down_s=%.1f api_down_up_s=%.1f down_to_instance_s=%.1f rollback_s=%.1f unhealthy_rollback_s=%.1f",
		coldBoot.Seconds(), requestToDown.Seconds(), up.Sub(down).Seconds(), resumed.Seconds(), rollback.Seconds(), sick.Seconds())
	u = doc.Update
	if u.Booted != "b" || u.BootedVersion != "rack-2" || u.Last.Slot != "a" || u.Last.Version != "rack-4-broken" ||
		!strings.Contains(u.Last.Reason, "slot a (version rack-4-broken) used up its 1 boot tries") {
		t.Errorf("after the broken update: %+v last %+v, want rack-2 booted from b and slot a rolled back", u, u.Last)
	}
	states := map[string]string{}
	for _, s := range u.Slots {
		states[s.Name] = s.State
	}
	if states["a"] != "bad" || states["b"] != "good" {
		t.Errorf("slots %+v, want a bad and b good", u.Slots)
	}
	if err := srv.Console.Seen("update: ROLLED BACK: slot a (version rack-4-broken)"); err != nil {
		t.Error(err)
	}
}

// uefiDiskVersion is uefiDisk with the UKI's version.
func uefiDiskVersion(ctx context.Context, t *testing.T, dir, cmdline, version string) string {
	t.Helper()
	set := artefactsOrSkip(t)
	for _, p := range []string{rack.OVMFCode, rack.OVMFVars, disk.DefaultStub, disk.DefaultLoader} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("SKIP: %v (apt-get install ovmf systemd-boot-efi, or run make test)", err)
		}
	}
	img := filepath.Join(dir, "disk.img")
	err := disk.BuildBootDisk(ctx, img, disk.UKIOptions{
		Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(), Cmdline: "console=ttyS0 " + cmdline, Version: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// buildUKI writes a UKI.
func buildUKI(ctx context.Context, t *testing.T, out string, o disk.UKIOptions) {
	t.Helper()
	if err := disk.BuildUKI(ctx, out, o); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits for the next banner's READY line.
func waitReady(ctx context.Context, t *testing.T, srv *rack.Server, what string) {
	t.Helper()
	start := time.Now()
	if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
		t.Fatalf("%s: no banner: %v\n%s", what, err, srv.Console.Tail(40))
	}
	t.Logf("%s: IRONVISOR READY after %.1fs", what, time.Since(start).Seconds())
}

// hostUpdate fetches /v1/host.
func hostUpdate(ctx context.Context, t *testing.T, a *rack.API) updateDoc {
	t.Helper()
	var doc updateDoc
	if err := a.GetJSON(ctx, "/v1/host", &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// launchHalting uploads a tiny guest that halts for good and launches it;
// it returns the instance's ID once it runs.
func launchHalting(ctx context.Context, t *testing.T, a *rack.API) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", "halt")
	kw, _ := mw.CreateFormFile("kernel", "halt.elf")
	kw.Write(testutil.PVHHello("UPDATE-GUEST\n", testutil.ExitHalt))
	mw.Close()
	if _, err := a.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), &body); err != nil {
		t.Fatal(err)
	}
	var tenant struct{ ID, Token string }
	if err := a.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "upd"}, &tenant); err != nil {
		t.Fatal(err)
	}
	user := *a
	user.Token = tenant.Token
	var launched []instance
	if err := user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{"image": "halt", "type": "nano", "count": 1}, &launched); err != nil || len(launched) != 1 {
		t.Fatalf("launch: %+v, %v", launched, err)
	}
	waitInstance(ctx, t, a, launched[0].ID, "running")
	return launched[0].ID
}

// postUpdate sends POST /v1/host/update: the file at path, streamed, or
// the url, with the file's or url's sha256.
func postUpdate(ctx context.Context, t *testing.T, a *rack.API, path, url string, tries int) {
	t.Helper()
	src := path
	if src == "" {
		src = servedFiles[url]
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("sha256", hex.EncodeToString(sum[:]))
		mw.WriteField("tries", fmt.Sprint(tries))
		if url != "" {
			mw.WriteField("url", url)
		} else {
			w, _ := mw.CreateFormFile("uki", "uki.efi")
			f, err := os.Open(path)
			if err == nil {
				io.Copy(w, f)
				f.Close()
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	out, err := a.Do(ctx, "POST", "/v1/host/update", mw.FormDataContentType(), pr)
	if err != nil {
		t.Fatalf("POST /v1/host/update: %v", err)
	}
	t.Logf("POST /v1/host/update: %s", bytes.TrimSpace(out))
}

// servedFiles maps the URLs serveFile made to their files.
var servedFiles = map[string]string{}

// serveFile serves path over HTTP on the host's loopback, which the rack
// server reaches as 10.0.2.2 (QEMU's user network), and returns its URL
// as the server sees it.
func serveFile(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := fmt.Sprintf("http://10.0.2.2:%d/%s", ln.Addr().(*net.TCPAddr).Port, filepath.Base(path))
	servedFiles[url] = path
	return url
}

// waitDownUp polls /v1/host until the API stops answering (the reboot)
// and then answers again, and returns when each happened.
func waitDownUp(ctx context.Context, t *testing.T, srv *rack.Server, a *rack.API, start time.Time) (down, up time.Time) {
	t.Helper()
	probe := func() bool {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := a.Do(pctx, "GET", "/v1/host", "", nil)
		return err == nil
	}
	for probe() {
		if err := pause(ctx); err != nil {
			t.Fatalf("the API never went down after the update: %v\n%s", err, srv.Console.Tail(30))
		}
	}
	down = time.Now()
	for !probe() {
		if err := pause(ctx); err != nil {
			t.Fatalf("the API never came back after the update: %v\n%s", err, srv.Console.Tail(40))
		}
	}
	return down, time.Now()
}

// waitOutcome polls /v1/host until the last update ended with outcome.
func waitOutcome(ctx context.Context, t *testing.T, a *rack.API, outcome string) updateDoc {
	t.Helper()
	for {
		var doc updateDoc
		err := a.GetJSON(ctx, "/v1/host", &doc)
		if err == nil && doc.Update != nil && doc.Update.Last != nil && doc.Update.Last.Outcome == outcome && !doc.Update.Trial {
			return doc
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("no update outcome %q: %+v (%v)", outcome, doc.Update, err)
		}
	}
}

// waitResumed polls the instance until it runs again: it is stopped
// until PID 1 starts it after the boot.
func waitResumed(ctx context.Context, t *testing.T, a *rack.API, id string) {
	t.Helper()
	for {
		var in instance
		if err := a.GetJSON(ctx, "/v1/instances/"+id, &in); err != nil {
			t.Fatal(err)
		}
		if in.State == "running" {
			return
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("instance %s is %s (%s), not running again: %v", id, in.State, in.Reason, err)
		}
	}
}
