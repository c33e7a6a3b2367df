// Package racktest holds the virtual-rack tests of the appliance: it boots
// the built artefacts (kernel and initramfs) in QEMU servers the way real
// iron boots them and drives them through the API. The artefacts come from
// IRONVISOR_ARTEFACTS, which `make test` sets after building them.
package racktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// bootTimeout bounds one appliance boot to READY under TCG on a loaded
// 2-core machine (measured: about 50 s alone).
const bootTimeout = 6 * time.Minute

// readyLine is the appliance's console banner; it captures the API URL.
var readyLine = regexp.MustCompile(`IRONVISOR READY api=(\S+)\r?\n`)

// hostDoc is the part of GET /v1/host the rack tests check.
type hostDoc struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	KVM      struct {
		Device string `json:"device"`
		Kind   string `json:"kind"`
		Works  bool   `json:"works"`
		Error  string `json:"error"`
	} `json:"kvm"`
	Addresses []struct {
		Interface string `json:"interface"`
		CIDR      string `json:"cidr"`
	} `json:"addresses"`
	Boot struct {
		Steps []struct {
			Name  string  `json:"name"`
			MS    float64 `json:"ms"`
			Error string  `json:"error"`
		} `json:"steps"`
		APIReadyMS float64 `json:"api_ready_ms"`
	} `json:"boot"`
	Failures []struct {
		Step  string `json:"step"`
		Error string `json:"error"`
	} `json:"failures"`
	TLSFingerprint string `json:"tls_fingerprint"`
}

// artefactsOrSkip loads the built artefacts or skips the test.
func artefactsOrSkip(t testing.TB) *artefacts.Set {
	t.Helper()
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: artefacts not built; run make test (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// bootAppliance boots one server with extra kernel command line, waits for
// the banner and returns the server and its host document.
func bootAppliance(t *testing.T, name, cmdline string) (*rack.Server, hostDoc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	srv := startAppliance(ctx, t, name, cmdline, nil)
	return srv, getHost(ctx, t, srv)
}

// startAppliance boots one server from the built kernel and initramfs with
// extra kernel command line and extra QEMU arguments, and waits for the
// READY line. The server is stopped when the test ends.
func startAppliance(ctx context.Context, t *testing.T, name, cmdline string, extra []string) *rack.Server {
	t.Helper()
	set := artefactsOrSkip(t)
	srv, err := rack.Start(ctx, rack.Options{
		Name: name, Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Append: "console=ttyS0 " + cmdline, MemoryMiB: 1024, CPUs: 1, LogDir: t.TempDir(), Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	start := time.Now()
	m, err := srv.Console.ExpectRegexp(ctx, readyLine)
	if err != nil {
		t.Fatalf("%s: no banner: %v", name, err)
	}
	t.Logf("%s: IRONVISOR READY after %.1fs from QEMU start (API inside: %s)", name, time.Since(start).Seconds(), m[1])
	if err := srv.Console.NotSeen("Kernel panic"); err != nil {
		t.Error(err)
	}
	return srv
}

// connect reads the appliance's banner from the console and returns an
// API client pinned to the certificate fingerprint it shows, with the admin
// token it shows on first start. The API must be HTTPS.
func connect(t *testing.T, srv *rack.Server) (*rack.API, rack.Banner) {
	t.Helper()
	b, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.URL, "https://") {
		t.Errorf("API URL %s, want https://", b.URL)
	}
	a, err := srv.API(8080, b.Fingerprint, b.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// getHost fetches and decodes the host document over HTTPS pinned to the
// console's fingerprint, with the console's admin token, after checking
// that the API refuses the request without a token. The document must
// carry the same fingerprint.
func getHost(ctx context.Context, t *testing.T, srv *rack.Server) hostDoc {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a, b := connect(t, srv)
	if b.AdminToken == "" {
		t.Fatal("the banner of a first start shows no admin token")
	}
	anon := *a
	anon.Token = ""
	if code, err := anon.Status(rctx, "GET", "/v1/host"); code != 401 {
		t.Errorf("GET /v1/host without a token: %d (%v), want 401", code, err)
	}
	var doc hostDoc
	if err := srv.ApplianceHost(rctx, 8080, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TLSFingerprint != b.Fingerprint {
		t.Errorf("tls_fingerprint %q, the console showed %q", doc.TLSFingerprint, b.Fingerprint)
	}
	return doc
}

// timeline formats the boot steps for the log.
func timeline(doc hostDoc) string {
	var b strings.Builder
	for _, s := range doc.Boot.Steps {
		fmt.Fprintf(&b, " %s@%.0fms", s.Name, s.MS)
		if s.Error != "" {
			b.WriteString("(failed)")
		}
	}
	return fmt.Sprintf("api_ready_ms=%.0f steps:%s", doc.Boot.APIReadyMS, b.String())
}

// TestApplianceBootsWithSVM boots the appliance on a virtual server with
// nested SVM and checks that the API (HTTPS pinned to the console's
// fingerprint, with the console's admin token) reports a working /dev/kvm
// of kind SVM, an uplink address, and no failures; then a tiny guest runs
// through the API in a jailed VMM (runTinyGuest).
func TestApplianceBootsWithSVM(t *testing.T) {
	t.Parallel()
	srv, doc := bootAppliance(t, "svm", "ironvisor.hostname=rack-svm")
	t.Logf("boot timeline (PID 1, monotonic): %s", timeline(doc))
	if !doc.KVM.Works || doc.KVM.Kind != "SVM" {
		t.Errorf("kvm = %+v, want works with kind SVM", doc.KVM)
	}
	if doc.Hostname != "rack-svm" {
		t.Errorf("hostname = %q, want rack-svm", doc.Hostname)
	}
	if len(doc.Failures) != 0 {
		t.Errorf("failures = %+v, want none", doc.Failures)
	}
	if doc.Boot.APIReadyMS <= 0 {
		t.Errorf("api_ready_ms = %v, want > 0", doc.Boot.APIReadyMS)
	}
	found := false
	for _, a := range doc.Addresses {
		found = found || strings.HasPrefix(a.CIDR, "10.0.2.15/")
	}
	if !found {
		t.Errorf("addresses = %+v, want the DHCP lease 10.0.2.15", doc.Addresses)
	}
	if err := srv.Console.NotSeen("IRONVISOR FAILED"); err != nil {
		t.Error(err)
	}
	// The image carries the lean VMM beside /init, and PID 1 runs it.
	if !strings.Contains(srv.Console.String(), "VMMs run /ironvisor-vmm") {
		t.Errorf("PID 1 does not run the lean VMM binary; console:\n%s", srv.Console.Tail(40))
	}
	a, _ := connect(t, srv)
	runTinyGuest(t, a)
}

// runTinyGuest drives a tiny PVH guest through the appliance's API on the
// rack server's KVM, as an operator would: the admin creates a tenant and
// uploads the image, the tenant launches a nano instance, which reaches
// running in a jailed VMM, prints its marker on the console and is
// terminated.
func runTinyGuest(t *testing.T, admin *rack.API) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var tenant struct{ ID, Token string }
	if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": "rack"}, &tenant); err != nil {
		t.Fatal(err)
	}
	const marker = "APPLIANCE-KVM-MARKER"
	uploadTiny(ctx, t, admin, marker)
	user := *admin
	user.Token = tenant.Token
	var launched []instance
	start := time.Now()
	err := user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{"image": "tiny", "type": "nano", "count": 1}, &launched)
	if err != nil || len(launched) != 1 {
		t.Fatalf("launch: %+v, %v", launched, err)
	}
	id := launched[0].ID
	in := waitInstance(ctx, t, &user, id, "running")
	t.Logf("instance %s: launch to running %v through the API (nested TCG); reason %q", id, time.Since(start).Round(time.Millisecond), in.Reason)
	var out struct {
		Output    string `json:"output"`
		Available bool   `json:"available"`
	}
	for !strings.Contains(out.Output, marker) {
		if err := user.GetJSON(ctx, "/v1/instances/"+id+"/console", &out); err != nil {
			t.Fatal(err)
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("console never showed %s: %q (available %v)", marker, out.Output, out.Available)
		}
	}
	if err := user.SendJSON(ctx, "DELETE", "/v1/instances/"+id, nil, &in); err != nil {
		t.Fatal(err)
	}
	if in.State != "terminated" {
		in = waitInstance(ctx, t, &user, id, "terminated")
	}
	t.Logf("instance %s: terminated (%s)", id, in.Reason)
}

// uploadTiny uploads, as the admin, the image "tiny": a tiny PVH guest
// that prints marker on its console and halts.
func uploadTiny(ctx context.Context, t *testing.T, admin *rack.API, marker string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", "tiny")
	mw.WriteField("cmdline", "console=ttyS0")
	kw, _ := mw.CreateFormFile("kernel", "tiny.elf")
	kw.Write(testutil.PVHHello(marker+"\n", testutil.ExitHalt))
	mw.Close()
	if _, err := admin.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), &body); err != nil {
		t.Fatal(err)
	}
}

// instance is the part of an instance the rack tests read.
type instance struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// waitInstance polls the instance until it is in state want. Reaching a
// state it cannot leave on its own towards want fails at once.
func waitInstance(ctx context.Context, t *testing.T, a *rack.API, id, want string) instance {
	t.Helper()
	for {
		var in instance
		if err := a.GetJSON(ctx, "/v1/instances/"+id, &in); err != nil {
			t.Fatal(err)
		}
		if in.State == want {
			return in
		}
		if in.State == "stopped" || in.State == "terminated" {
			t.Fatalf("instance %s is %s (%s), want %s", id, in.State, in.Reason, want)
		}
		if err := pause(ctx); err != nil {
			t.Fatalf("instance %s still %s (%s), want %s: %v", id, in.State, in.Reason, want, err)
		}
	}
}

// guestConsole returns instance id's serial console output as the API
// keeps it.
func guestConsole(ctx context.Context, a *rack.API, id string) (string, error) {
	var out struct {
		Output string `json:"output"`
	}
	err := a.GetJSON(ctx, "/v1/instances/"+id+"/console", &out)
	return out.Output, err
}

// pause waits a poll interval, or fails when ctx ends first.
func pause(ctx context.Context) error {
	tm := time.NewTimer(200 * time.Millisecond)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// TestApplianceReportsBrokenConfig is the negative twin: a server booted
// with an invalid uplink mode keeps serving, and the API names the failed
// config step.
func TestApplianceReportsBrokenConfig(t *testing.T) {
	t.Parallel()
	srv, doc := bootAppliance(t, "badconfig", "ironvisor.uplink=bogus")
	t.Logf("boot timeline with a broken config: %s", timeline(doc))
	var configErr string
	for _, f := range doc.Failures {
		if f.Step == "config" {
			configErr = f.Error
		}
	}
	if configErr == "" {
		t.Fatalf("failures = %+v, want a config failure", doc.Failures)
	}
	if !strings.Contains(configErr, "bogus") {
		t.Errorf("config failure %q does not name the bad value", configErr)
	}
	// The failure line comes before the banner, which was already seen.
	if err := srv.Console.Seen("IRONVISOR FAILED step=config: "); err != nil {
		t.Error(err)
	}
	// Defaults apply, so the box still has KVM and an address.
	if !doc.KVM.Works {
		t.Errorf("kvm = %+v after a config failure, want working", doc.KVM)
	}
}
