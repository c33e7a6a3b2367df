package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCtlRack: set sends only the fields given, get --check asks for the
// API check, and list and delete use their routes.
func TestCtlRack(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
		switch r.Method {
		case "DELETE":
			w.WriteHeader(204)
		case "GET":
			if strings.HasSuffix(r.URL.Path, "/machines") {
				w.Write([]byte(`[{"mac":"52:54:00:00:00:01","address":"10.77.0.20","configured":true}]`))
				return
			}
			fallthrough
		default:
			w.Write([]byte(`{"mac":"52:54:00:00:00:01","address":"10.77.0.20","hostname":"n1","configured":true}`))
		}
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"set", "52:54:00:00:00:01", "--address", "10.77.0.20", "--hostname", "n1"},
		{"get", "52:54:00:00:00:01", "--check"},
		{"list"},
		{"delete", "52:54:00:00:00:01"},
	} {
		var out, errb bytes.Buffer
		if code := ctlMain(append([]string{"--url", srv.URL, "--token", "tok", "rack"}, args...), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if args[0] != "delete" && !strings.Contains(out.String(), "10.77.0.20") {
			t.Errorf("%v printed:\n%s", args, out.String())
		}
	}
	want := []string{
		`PUT /v1/rack/machines/52:54:00:00:00:01 {"address":"10.77.0.20","hostname":"n1"}`,
		`GET /v1/rack/machines/52:54:00:00:00:01?check=true`,
		`GET /v1/rack/machines`,
		`DELETE /v1/rack/machines/52:54:00:00:00:01`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
