package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCtlMisuse(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--url", "http://x", "instances"}, 2, "no token"},
		{[]string{"--token", "t", "instances"}, 2, "no API URL"},
		{[]string{"--url", "http://x", "--token", "t", "widgets"}, 2, "unknown resource"},
		{[]string{"--url", "http://x", "--token", "t", "instances", "get"}, 2, "takes 1 argument"},
		{[]string{"--help"}, 0, "security-groups"},
	} {
		t.Setenv("IRONVISOR_URL", "")
		t.Setenv("IRONVISOR_TOKEN", "")
		var out, errb bytes.Buffer
		if code := ctlMain(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, c.code, c.msg, errb.String())
		}
	}
}

func TestCtlTableAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"missing or invalid bearer token"}`))
			return
		}
		w.Write([]byte(`[{"id":"i-1","state":"running","type":"nano","image":"img-1","ips":["10.0.0.2"],"launch_time":"t","reason":""}]`))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := ctlMain([]string{"--url", srv.URL, "--token", "tok", "instances", "list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "10.0.0.2") || !strings.HasSuffix(lines[1], "-") {
		t.Fatalf("table:\n%s", out.String())
	}
	out.Reset()
	if code := ctlMain([]string{"--url", srv.URL, "--token", "tok", "instances", "list", "--json"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), `[{"id":"i-1"`) {
		t.Fatalf("--json: %d %s", code, out.String())
	}
	errb.Reset()
	if code := ctlMain([]string{"--url", srv.URL, "--token", "bad", "instances"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "HTTP 401: missing or invalid bearer token") {
		t.Fatalf("401: %d %s", code, errb.String())
	}
}

// TestCtlAccessKeys: create posts and prints the ID and the secret; list
// and delete use their routes.
func TestCtlAccessKeys(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		switch r.Method {
		case "POST":
			w.WriteHeader(201)
			w.Write([]byte(`{"id":"AKIAEXAMPLEEXAMPLE12","tenant_id":"t-1","created":"2026-01-01T00:00:00Z","secret":"s3cr3t"}`))
		case "GET":
			w.Write([]byte(`[{"id":"AKIAEXAMPLEEXAMPLE12","tenant_id":"t-1","created":"2026-01-01T00:00:00Z"}]`))
		default:
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	for _, args := range [][]string{{"create"}, {"list"}, {"delete", "AKIAEXAMPLEEXAMPLE12"}} {
		var out, errb bytes.Buffer
		if code := ctlMain(append([]string{"--url", srv.URL, "--token", "tok", "access-keys"}, args...), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if args[0] == "create" && !strings.Contains(out.String(), "s3cr3t") {
			t.Fatalf("create does not show the secret:\n%s", out.String())
		}
	}
	want := "POST /v1/access-keys,GET /v1/access-keys,DELETE /v1/access-keys/AKIAEXAMPLEEXAMPLE12"
	if strings.Join(got, ",") != want {
		t.Fatalf("requests %v", got)
	}
}

// TestCtlQuotas: "quotas set" sends only the limits given, and "quotas
// get" prints them as a table.
func TestCtlQuotas(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			b, _ := io.ReadAll(r.Body)
			got = r.URL.Path + " " + string(b)
		}
		w.Write([]byte(`{"networks":3,"instances":7,"volume_bytes":1024}`))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := ctlMain([]string{"--url", srv.URL, "--token", "tok", "quotas", "set", "t-1", "--networks", "3", "--volume-bytes", "1024"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got != `/v1/tenants/t-1/quotas {"networks":3,"volume_bytes":1024}` {
		t.Fatalf("sent %s", got)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NETWORKS") || !strings.HasPrefix(lines[1], "3 ") {
		t.Fatalf("table:\n%s", out.String())
	}
}
