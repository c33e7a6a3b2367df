package service

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
)

// buildBinary builds cmd/ironvisor into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ironvisor")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ironvisor/ironvisor/cmd/ironvisor").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitDatagram reads sd_notify datagrams until one equals want.
func waitDatagram(t *testing.T, c *net.UnixConn, want string, deadline time.Time) {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(deadline)
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for sd_notify %q: %v", want, err)
		}
		if string(buf[:n]) == want {
			return
		}
	}
}

// waitReady scans the service's stdout for the READY line and returns the
// API URL, forwarding the rest of the output to the test log.
func waitReady(t testing.TB, stdout *bufio.Scanner, deadline time.Time) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		for stdout.Scan() {
			line := stdout.Text()
			t.Logf("serve: %s", line)
			if url, ok := strings.CutPrefix(line, "IRONVISOR READY api="); ok {
				found <- url
			}
		}
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(time.Until(deadline)):
		t.Fatal("no IRONVISOR READY line before the deadline")
		return ""
	}
}

func TestServeEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	data := filepath.Join(dir, "data", "nested")
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--insecure-http")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer cmd.Process.Kill() // no-op once it has exited

	deadline := time.Now().Add(30 * time.Second)
	url := waitReady(t, bufio.NewScanner(out), deadline)
	waitDatagram(t, nc, "READY=1", deadline)
	waitDatagram(t, nc, "WATCHDOG=1", deadline)

	st, err := os.Stat(data)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir %s: %v, %v; want a 0700 directory", data, st, err)
	}

	admin, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url+"v1/host", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(admin)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var h hostinfo.Host
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/host: %d, %v", resp.StatusCode, err)
	}
	if h.Mode != "service" || h.CPU.Count < 1 || h.Memory.TotalBytes == 0 || h.Boot.APIReadyMS == nil {
		t.Errorf("host document = %+v", h)
	}
	if len(h.Failures) != 0 {
		t.Errorf("failures in a healthy service: %+v", h.Failures)
	}
	resp, err = http.Post(url+"v1/host", "application/json", nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /v1/host: %d, want 405", resp.StatusCode)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDatagram(t, nc, "STOPPING=1", deadline)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(time.Until(deadline)):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

func TestCommandLineMisuse(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--data", t.TempDir(), "--listen", "not-an-address"},
		{"serve", "--data", "/proc/version/x", "--listen", "127.0.0.1:0"},
		{"serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0", "--insecure-http"},
		{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--cpu-overcommit", "0.5"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Errorf("%v: err %v, want a non-zero exit\n%s", args, err, out)
		}
	}
	if out, err := exec.Command(bin, "serve", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--data DIR") {
		t.Errorf("serve --help: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "init", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "ironvisor.uplink=dhcp|static") {
		t.Errorf("init --help: %v\n%s", err, out)
	}
	// Not PID 1: init must refuse rather than mount over this host.
	out, err := exec.Command(bin, "init").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "must run as PID 1") {
		t.Errorf("init as an ordinary process: %v\n%s", err, out)
	}
}
