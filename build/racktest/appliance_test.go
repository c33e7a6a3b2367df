// Package racktest holds the virtual-rack tests of the appliance: it boots
// the built artefacts (kernel and initramfs) in QEMU servers the way real
// iron boots them and drives them through the API. The artefacts come from
// IRONVISOR_ARTEFACTS, which `make test` sets after building them.
package racktest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
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
}

// artefactsOrSkip loads the built artefacts or skips the test.
func artefactsOrSkip(t *testing.T) *artefacts.Set {
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
	set := artefactsOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: name, Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Append: "console=ttyS0 " + cmdline, MemoryMiB: 1024, CPUs: 1, LogDir: t.TempDir(),
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
	return srv, getHost(ctx, t, srv)
}

// getHost fetches and decodes the host document.
func getHost(ctx context.Context, t *testing.T, srv *rack.Server) hostDoc {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var doc hostDoc
	if err := srv.GetJSON(rctx, 8080, "/v1/host", &doc); err != nil {
		t.Fatal(err)
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
// nested SVM and checks that the API reports a working /dev/kvm of kind SVM,
// an uplink address, and no failures.
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
