package service

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// rackIronvisor is where appliance/service/racktest puts the binary.
const rackIronvisor = "/bin/ironvisor"

// server is a running "ironvisor serve".
type server struct {
	bin, data, url string
}

// startServe runs the real binary and waits for its READY line.
func startServe(t testing.TB, extra ...string) server {
	t.Helper()
	bin := rackIronvisor
	if _, err := os.Stat(bin); err != nil {
		bin = buildBinary(t)
	}
	return startServeBin(t, bin, extra...)
}

// startServeBin runs "bin serve" and waits for its READY line.
func startServeBin(t testing.TB, bin string, extra ...string) server {
	t.Helper()
	return startServeData(t, bin, filepath.Join(t.TempDir(), "data"), extra...)
}

// startServeData is startServeBin with its data directory at data.
func startServeData(t testing.TB, bin, data string, extra ...string) server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not exit after SIGTERM")
		}
	})
	url := waitReady(t, bufio.NewScanner(out), time.Now().Add(60*time.Second))
	return server{bin: bin, data: data, url: url}
}

// adminToken reads DATA/admin.token and checks its mode.
func (s server) adminToken(t testing.TB) string {
	st, err := os.Stat(filepath.Join(s.data, "admin.token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(s.data, "admin.token"))
	return strings.TrimSpace(string(b))
}

// ctl runs "ironvisor ctl" and returns its exit code, stdout and stderr.
func (s server) ctl(t testing.TB, token string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"ctl", "--url", s.url, "--token", token}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// ok runs ctl, requires success and decodes --json output into v if set.
func (s server) ok(t testing.TB, token string, v any, args ...string) string {
	t.Helper()
	code, out, errs := s.ctl(t, token, args...)
	if code != 0 {
		t.Fatalf("ctl %v: exit %d\n%s%s", args, code, out, errs)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("ctl %v: %v\n%s", args, err, out)
		}
	}
	return out
}

func TestControlPlaneEndToEnd(t *testing.T) {
	// --no-hypervisor: this test is about the API without VMMs, also on a
	// host whose /dev/kvm could run the tiny guest (PVM runs PVH guests).
	s := startServe(t, "--insecure-http", "--no-hypervisor")
	admin := s.adminToken(t)

	// Without a token: 401.
	resp, err := http.Get(s.url + "v1/instances")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}

	var tenant struct{ ID, Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "acme", "--json")
	if tenant.ID == "" || tenant.Token == "" {
		t.Fatalf("tenant %+v", tenant)
	}
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("e2e", testutil.ExitHalt), 0o600)
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("not a kernel"), 0o600)
	if code, _, errs := s.ctl(t, admin, "images", "upload", "--name", "bad", "--kernel", bad); code != 1 || !strings.Contains(errs, "HTTP 400") {
		t.Fatalf("broken image: exit %d %s", code, errs)
	}
	if out := s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0"); !strings.Contains(out, "pvh") {
		t.Fatalf("upload table: %s", out)
	}
	if out := s.ok(t, tenant.Token, nil, "images", "list"); !strings.Contains(out, "KERNEL_FORMAT") || !strings.Contains(out, "tiny") {
		t.Fatalf("images table: %s", out)
	}
	var insts []struct{ ID, State, Reason string }
	s.ok(t, tenant.Token, &insts, "instances", "launch", "--image", "tiny", "--type", "nano", "--wait", "0", "--json")
	if len(insts) != 1 || insts[0].State != "pending" {
		t.Fatalf("launch: %+v", insts)
	}
	id := insts[0].ID
	if out := s.ok(t, tenant.Token, nil, "instances", "list"); !strings.Contains(out, id) || !strings.Contains(out, "pending") {
		t.Fatalf("instances table: %s", out)
	}
	// This service has no hypervisor wired: waiting says so instead of spinning.
	if code, _, errs := s.ctl(t, tenant.Token, "instances", "start", id, "--wait", "30s"); code != 1 || !strings.Contains(errs, "no hypervisor") {
		t.Fatalf("wait without a hypervisor: exit %d %s", code, errs)
	}
	if code, _, errs := s.ctl(t, tenant.Token, "instances", "resize", id, "--type", "micro"); code != 1 || !strings.Contains(errs, "HTTP 409") || !strings.Contains(errs, "stopped") {
		t.Fatalf("resize while pending: exit %d %s", code, errs)
	}
	// Another tenant sees nothing.
	var other struct{ Token string }
	s.ok(t, admin, &other, "tenants", "create", "other", "--json")
	if code, _, errs := s.ctl(t, other.Token, "instances", "get", id); code != 1 || !strings.Contains(errs, "HTTP 404") {
		t.Fatalf("other tenant: exit %d %s", code, errs)
	}
	var in struct{ State, Type string }
	s.ok(t, tenant.Token, &in, "instances", "stop", id, "--force", "--json")
	s.ok(t, tenant.Token, &in, "instances", "resize", id, "--type", "micro", "--json")
	if in.State != "stopped" || in.Type != "micro" {
		t.Fatalf("resize while stopped: %+v", in)
	}
	s.ok(t, tenant.Token, &in, "instances", "terminate", id, "--json")
	if in.State != "terminated" {
		t.Fatalf("terminate: %+v", in)
	}
	s.ok(t, tenant.Token, nil, "networks", "create", "--name", "web", "--cidr", "10.20.0.0/24")
	s.ok(t, tenant.Token, nil, "usage")
	if out := s.ok(t, admin, nil, "openapi"); !strings.Contains(out, "/v1/instances/{id}/stop") {
		t.Fatalf("openapi: %.200s", out)
	}
}

func TestTLSFingerprintPinning(t *testing.T) {
	s := startServe(t)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("default is not HTTPS: %s", s.url)
	}
	admin := s.adminToken(t)
	c, _, _, err := LoadOrCreateCert(s.data)
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(c.Certificate[0])
	var host struct {
		TLSFingerprint string `json:"tls_fingerprint"`
	}
	s.ok(t, admin, &host, "--fingerprint", fp, "host")
	if host.TLSFingerprint != fp {
		t.Fatalf("/v1/host fingerprint %q, want %q", host.TLSFingerprint, fp)
	}
	if code, _, errs := s.ctl(t, admin, "host"); code != 1 || !strings.Contains(errs, "certificate") {
		t.Fatalf("unpinned self-signed cert accepted: exit %d %s", code, errs)
	}
	wrong := strings.Repeat("00:", 31) + "00"
	if code, _, errs := s.ctl(t, admin, "--fingerprint", wrong, "host"); code != 1 || !strings.Contains(errs, "does not match") {
		t.Fatalf("wrong pin accepted: exit %d %s", code, errs)
	}
	// A client pinning the fingerprint by hand sees the same certificate.
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := pinned.Get(s.url + "v1/host")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != fp || resp.StatusCode != 401 {
		t.Fatalf("served certificate %s (status %d), want %s and 401", got, resp.StatusCode, fp)
	}
}

// TestServeCPUOvercommit: serve --cpu-overcommit 2 lets instances have two
// vCPUs per host CPU, and not one more; without it, one per CPU. (Without
// a hypervisor launches stay pending, which holds capacity as running
// does.)
func TestServeCPUOvercommit(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("oc", testutil.ExitHalt), 0o600)
	for _, oc := range []int{1, 2} {
		s := startServe(t, "--insecure-http", "--no-hypervisor", "--cpu-overcommit", strconv.Itoa(oc))
		admin := s.adminToken(t)
		var tenant struct{ Token string }
		s.ok(t, admin, &tenant, "tenants", "create", "oc", "--json")
		s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel)
		fit := strconv.Itoa(oc * runtime.NumCPU())
		s.ok(t, tenant.Token, nil, "instances", "launch", "--image", "tiny", "--type", "nano", "--count", fit, "--wait", "0")
		code, _, errs := s.ctl(t, tenant.Token, "instances", "launch", "--image", "tiny", "--type", "nano", "--wait", "0")
		if code == 0 || !strings.Contains(errs, "InsufficientCapacity") {
			t.Fatalf("overcommit %d: launch beyond %s vCPUs: exit %d %s", oc, fit, code, errs)
		}
	}
}
