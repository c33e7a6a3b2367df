package boot

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netns"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/service"
)

// TestMain boots the appliance instead of running the tests when
// TestPID1InNamespaces runs the test binary again as PID 1 of fresh PID,
// mount, network and UTS namespaces.
func TestMain(m *testing.M) {
	if root := os.Getenv("IRONVISOR_PID1_MODULES"); root != "" && os.Getpid() == 1 {
		pid1Main(root)
		return
	}
	os.Exit(m.Run())
}

// pid1Main boots the appliance with fake modules under root; it never
// returns.
func pid1Main(root string) {
	var mounts []Mount
	for _, m := range Mounts {
		if m.Target != "/tmp" { // the test's files live there
			mounts = append(mounts, m)
		}
	}
	// The watchdog is a plain file of the test's: the host's must never
	// be armed by a test.
	Main(Options{Args: []string{"--config", os.Getenv("IRONVISOR_PID1_CONFIG")}, Mounts: mounts,
		WatchdogDevice: os.Getenv("IRONVISOR_PID1_WATCHDOG"),
		ModuleOpts:     &kmodule.ProbeOpts{RootDir: root, KVer: "6.1.0-test", IgnoreProcMods: true, DryRunCB: func(string) {}}})
}

// console collects a process's output lines and finds lines in it.
type console struct {
	lines chan string
	t     *testing.T
}

// expect waits until a line containing want appears, and returns it.
func (c *console) expect(want string, deadline time.Time) string {
	c.t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("console closed before %q", want)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-timer.C:
			c.t.Fatalf("no %q on the console before the deadline", want)
		}
	}
}

// dialIn returns a dialer that connects from inside the network namespace
// of process pid.
func dialIn(pid int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		ns, err := netns.GetFromPid(pid)
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return nil, err
		}
		defer netns.Set(orig)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

func TestPID1InNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to create PID, mount, network and UTS namespaces")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("SKIP: unshare (util-linux) not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "ironvisor.json")
	if err := os.WriteFile(cfg, []byte(`{"hostname":"pid1-test","api":":8080"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--net", "--uts", "--mount", "--",
		exe)
	wd := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(wd, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "IRONVISOR_PID1_MODULES="+fakeModules(t), "IRONVISOR_PID1_CONFIG="+cfg,
		"IRONVISOR_PID1_WATCHDOG="+wd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // no-op once it has exited
	c := &console{lines: make(chan string, 256), t: t}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			t.Logf("pid1: %s", sc.Text())
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()

	deadline := time.Now().Add(60 * time.Second)
	c.expect("IRONVISOR FAILED step=uplink: no ethernet interface found", deadline)
	fp := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.expect("  TLS      SHA-256 ", deadline)), "TLS      SHA-256"))
	admin := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.expect("  Admin    ", deadline)), "Admin"))
	c.expect("  WARNING  the state (instances, images, tokens) is in RAM", deadline)
	ready := c.expect("IRONVISOR READY api=", deadline)
	if !strings.HasSuffix(ready, "api=https://127.0.0.1:8080/") {
		t.Errorf("READY line %q, want the loopback HTTPS URL (no uplink)", ready)
	}
	pid1 := nsInit(t, cmd.Process.Pid)
	client := pinnedClient(t, pid1, fp)
	checkAdminToken(t, client, pid1, admin)
	// The watchdog's first round runs in the background once it is armed,
	// so READY can come before the first pet: read /v1/host until it
	// shows one, within the deadline.
	var h api.HostDoc
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for h = hostDoc(t, client, admin); h.Watchdog == nil || h.Watchdog.LastPet.IsZero(); h = hostDoc(t, client, admin) {
		if time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	checkHostDocument(t, h.Host)
	if w := h.Watchdog; w == nil || w.Device != wd || w.LastPet.IsZero() || !w.Healthy {
		t.Errorf("/v1/host watchdog = %+v, want %s petted and healthy", w, wd)
	}
	if h.TLSFingerprint != fp {
		t.Errorf("tls_fingerprint %q, the console said %q", h.TLSFingerprint, fp)
	}

	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.expect("IRONVISOR POWEROFF", deadline)
	// The control plane shuts down (API, store) after the other processes
	// are gone and before the kernel is asked to stop.
	c.expect("poweroff: closing the control plane", deadline)
	c.expect("poweroff: syncing disks", deadline)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited: // reboot(2) in a PID namespace ends its init
	case <-time.After(time.Until(deadline)):
		t.Fatal("PID 1 did not power off after SIGTERM")
	}
	// A deliberate power-off disarms the watchdog: 'V' is the last byte.
	if b, err := os.ReadFile(wd); err != nil || len(b) < 2 || b[len(b)-1] != 'V' {
		t.Errorf("watchdog device after power-off: %q (%v), want pets then 'V'", b, err)
	}
}

// hostDoc reads GET /v1/host with the admin token.
func hostDoc(t *testing.T, client *http.Client, admin string) api.HostDoc {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://127.0.0.1:8080/v1/host", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/host in the namespace: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var h api.HostDoc
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &h)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/host: %s %s (%v)", resp.Status, body, err)
	}
	return h
}

// pinnedClient returns an HTTPS client that connects inside the network
// namespace of pid1 and trusts only the API certificate in its data
// directory, after checking that it has the fingerprint the console showed.
func pinnedClient(t *testing.T, pid1 int, fingerprint string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/%s", pid1, DataDir, service.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("tls.crt holds no PEM block")
	}
	if got := service.Fingerprint(block.Bytes); got != fingerprint {
		t.Fatalf("certificate fingerprint %s, the console said %s", got, fingerprint)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     dialIn(pid1),
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

// checkAdminToken checks that the token shown on the console is the one
// in DATA/admin.token (mode 0600), that it is accepted, and that a request
// without it is refused.
func checkAdminToken(t *testing.T, client *http.Client, pid1 int, token string) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/root%s/%s", pid1, DataDir, auth.AdminTokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != token || !strings.HasPrefix(token, "ivt_") {
		t.Errorf("admin.token holds %q, the console showed %q", b, token)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode: %v", err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {token, http.StatusOK}} {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:8080/v1/tenants", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v1/tenants with token %v: %s, want %d", tc.token != "", resp.Status, tc.want)
		}
	}
}

// checkHostDocument checks what the namespaced PID 1 reports.
func checkHostDocument(t *testing.T, h hostinfo.Host) {
	t.Helper()
	if h.Mode != "appliance" || h.Hostname != "pid1-test" {
		t.Errorf("mode %q hostname %q", h.Mode, h.Hostname)
	}
	var names []string
	for _, s := range h.Boot.Steps {
		if s.Name != "modules-late" { // runs alongside hostname, loopback and uplink
			names = append(names, s.Name)
		}
	}
	// The steps come in this order; the host network's steps (hostnet,
	// hostnet-sync, reattach) run between the store and the listener, and
	// are not part of the order checked here.
	want := strings.Split("mount,console,config,cad,modules,hostname,loopback,uplink,storage,data,store,listen,api", ",")
	rest := names
	for _, w := range want {
		i := slices.Index(rest, w)
		if i < 0 {
			t.Errorf("boot steps %s: %s missing or out of order (want the order %v)", strings.Join(names, ","), w, want)
			break
		}
		rest = rest[i+1:]
	}
	failed := map[string]bool{}
	for _, f := range h.Failures {
		failed[f.Step] = true
	}
	// No uplink in an empty network namespace, and Ctrl-Alt-Del cannot be
	// configured from a child PID namespace (reboot(2) answers EINVAL).
	if !failed["uplink"] || failed["mount"] || failed["config"] || failed["hostname"] || failed["loopback"] || failed["api"] ||
		failed["storage"] || failed["controlplane"] {
		t.Errorf("failures = %+v", h.Failures)
	}
	if h.Boot.APIReadyMS == nil || h.Boot.KernelUptimeMS <= 0 {
		t.Errorf("boot = %+v", h.Boot)
	}
}

// nsInit returns the host pid of unshare's child, the namespace's PID 1,
// by finding the process whose parent is unshare.
func nsInit(t *testing.T, unsharePid int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(unsharePid) {
			return pid
		}
	}
	t.Fatalf("no child of unshare (pid %d) found", unsharePid)
	return 0
}
