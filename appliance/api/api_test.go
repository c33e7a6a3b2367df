package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// staticHost serves a fixed document, as a HostSource.
type staticHost hostinfo.Host

func (s staticHost) Collect() hostinfo.Host { return hostinfo.Host(s) }

// do runs one request against h and decodes the JSON body into a map.
func do(t *testing.T, h http.Handler, method, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, rec.Body, err)
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return rec, body
}

func TestGetHostDocument(t *testing.T) {
	tl := timeline.New(&bytes.Buffer{}, time.Now(), 0)
	tl.Fail("config", &net.ParseError{Type: "IP address", Text: "x"})
	doc := hostinfo.Host{Version: "dev", Hostname: "n1", CPU: hostinfo.CPU{Model: "EPYC", Count: 2},
		KVM:       hostinfo.KVM{Device: "/dev/kvm", Kind: kvm.KindSVM, Works: true},
		Addresses: []hostinfo.Address{{Interface: "eth0", CIDR: "10.0.2.15/24"}},
		Boot:      tl.Report(), Failures: tl.Report().Failures}
	rec, body := do(t, New(staticHost(doc)), "GET", "/v1/host")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, key := range []string{"version", "hostname", "uptime_seconds", "cpu", "memory", "kvm", "addresses", "boot", "failures"} {
		if _, ok := body[key]; !ok {
			t.Errorf("document lacks %q: %s", key, rec.Body)
		}
	}
	k := body["kvm"].(map[string]any)
	if k["kind"] != "SVM" || k["works"] != true || k["device"] != "/dev/kvm" {
		t.Errorf("kvm = %v", k)
	}
	if _, ok := k["error"]; !ok {
		t.Errorf("kvm lacks error: %v", k)
	}
	boot := body["boot"].(map[string]any)
	if _, ok := boot["api_ready_ms"]; !ok {
		t.Errorf("boot lacks api_ready_ms: %v", boot)
	}
	f := body["failures"].([]any)
	if len(f) != 1 || f[0].(map[string]any)["step"] != "config" {
		t.Errorf("failures = %v", f)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	h := New(staticHost{})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/", 404, ""},
		{"GET", "/v1/nope", 404, ""},
		{"GET", "/v1/host/extra", 404, ""},
		{"POST", "/v1/host", 405, "GET, HEAD"},
		{"DELETE", "/v1/host", 405, "GET, HEAD"},
	} {
		rec, body := do(t, h, tc.method, tc.path)
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
		if msg, _ := body["error"].(string); msg == "" {
			t.Errorf("%s %s: body %s lacks an error message", tc.method, tc.path, rec.Body)
		}
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	if rec, _ := do(t, h, "HEAD", "/v1/host"); rec.Code != 200 {
		t.Errorf("HEAD /v1/host: %d", rec.Code)
	}
}

func TestRouterParams(t *testing.T) {
	rt := &Router{}
	var got Params
	rt.Handle("GET", "/v1/instances/{id}", func(w http.ResponseWriter, r *http.Request, p Params) {
		got = p
		JSON(w, 200, map[string]string{})
	})
	rt.Handle("DELETE", "/v1/instances/{id}", func(w http.ResponseWriter, r *http.Request, p Params) {})
	if rec, _ := do(t, rt, "GET", "/v1/instances/i-123"); rec.Code != 200 || got["id"] != "i-123" {
		t.Errorf("status %d params %v", rec.Code, got)
	}
	if rec, _ := do(t, rt, "PUT", "/v1/instances/i-1"); rec.Header().Get("Allow") != "DELETE, GET, HEAD" {
		t.Errorf("Allow = %q", rec.Header().Get("Allow"))
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate route did not panic")
		}
	}()
	rt.Handle("GET", "/v1/instances/{id}", nil)
}

func TestServerServesAndShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(New(staticHost{Hostname: "live"}))
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	url := URL(ln.Addr(), nil)
	resp, err := http.Get(url + "v1/host")
	if err != nil {
		t.Fatal(err)
	}
	var h hostinfo.Host
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.Hostname != "live" {
		t.Fatalf("decoded %+v, %v", h, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestURL(t *testing.T) {
	adv := net.ParseIP("10.0.2.15")
	for _, tc := range []struct {
		addr string
		want string
	}{
		{"0.0.0.0:8080", "http://10.0.2.15:8080/"},
		{"[::]:8080", "http://10.0.2.15:8080/"},
		{"127.0.0.1:9", "http://127.0.0.1:9/"},
	} {
		a, _ := net.ResolveTCPAddr("tcp", tc.addr)
		if got := URL(a, adv); got != tc.want {
			t.Errorf("URL(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}
