package controlplane

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// fixedHost is a HostSource for tests.
type fixedHost struct{}

func (fixedHost) Collect() hostinfo.Host { return hostinfo.Host{Version: "test", Mode: "service"} }

// env is a control plane behind an httptest server.
type env struct {
	t     testing.TB
	cp    *ControlPlane
	srv   *httptest.Server
	admin string
	dir   string
	db    *store.DB
}

// newEnv composes a control plane with runner (nil for none); opts change
// its configuration before it is composed.
func newEnv(t testing.TB, runner orchestrator.Runner, opts ...func(*Config)) *env {
	return newEnvCap(t, runner, types.Host{CPUs: 4, MemBytes: 4 * types.GiB}, opts...)
}

func newEnvCap(t testing.TB, runner orchestrator.Runner, capacity types.Host, opts ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := Config{DB: db, DataDir: dir, Host: fixedHost{}, Runner: runner, TLSFingerprint: "ab:cd",
		HostCapacity: capacity, Uplink: true, ReservedPorts: []uint16{8443},
		PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")}}
	for _, o := range opts {
		o(&cfg)
	}
	cp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, created, err := cp.Bootstrap()
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(cp.Wait)
	return &env{t: t, cp: cp, srv: srv, admin: tok, dir: dir, db: db}
}

// do sends a request and returns the status and body.
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// must sends a request, checks the status and decodes the answer into v.
func (e *env) must(want int, method, path, token string, body, v any) {
	e.t.Helper()
	code, out := e.do(method, path, token, body)
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
}

// tenant creates a tenant and returns its ID and token.
func (e *env) tenant(name string) (string, string) {
	var tc apiv1.TenantCreated
	e.must(201, "POST", "/v1/tenants", e.admin, map[string]string{"name": name}, &tc)
	return tc.ID, tc.Token
}

// multipartBody builds an image upload.
func multipartBody(t testing.TB, fields map[string]string, files map[string][]byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, v := range files {
		fw, err := mw.CreateFormFile(k, k)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(v)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// upload posts an image and returns the status and body.
func (e *env) upload(name string, kernel []byte) (int, []byte) {
	return e.uploadParts(map[string]string{"name": name, "cmdline": "console=ttyS0"},
		map[string][]byte{"kernel": kernel, "initrd": []byte("initrd bytes")})
}

// uploadParts posts an image of the given fields and files.
func (e *env) uploadParts(fields map[string]string, files map[string][]byte) (int, []byte) {
	ct, body := multipartBody(e.t, fields, files)
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/images", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// tinyImage uploads the tiny PVH guest as image name.
func (e *env) tinyImage(name string) {
	e.t.Helper()
	if code, out := e.upload(name, testutil.PVHHello("hello", testutil.ExitHalt)); code != 201 {
		e.t.Fatalf("upload: %d %s", code, out)
	}
}

// imageDirs lists the image directory.
func (e *env) imageDirs() []string {
	ents, _ := os.ReadDir(filepath.Join(e.dir, "images"))
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}
