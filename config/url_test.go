package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sumOf is the hex SHA-256 of s.
func sumOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestParseConfigURLGood(t *testing.T) {
	sum := sumOf("{}")
	for _, v := range []string{
		"http://10.0.2.2:8000/c.json#sha256=" + sum,
		"https://boot.example/rack/52:54:00:12:34:56.json?x=1#sha256=" + strings.ToUpper(sum),
		"http://[fd00::1]/c#sha256=" + sum,
	} {
		c, err := ParseConfigURL(v)
		if err != nil {
			t.Fatalf("ParseConfigURL(%q): %v", v, err)
		}
		base, _, _ := strings.Cut(v, "#")
		if c.URL != base || c.String() != base+"#sha256="+sum {
			t.Errorf("ParseConfigURL(%q) = %q, %q", v, c.URL, c.String())
		}
	}
}

func TestParseConfigURLBad(t *testing.T) {
	sum := sumOf("{}")
	for _, tc := range []struct{ v, want string }{
		{"http://h/c.json", "needs the document's checksum"},
		{"http://h/c.json#md5=" + sum, "want sha256=HEX"},
		{"http://h/c.json#sha256=" + sum[:63], "want 64 hex digits"},
		{"http://h/c.json#sha256=" + sum + "00", "want 64 hex digits"},
		{"http://h/c.json#sha256=" + strings.Repeat("g", 64), "want 64 hex digits"},
		{"ftp://h/c.json#sha256=" + sum, "http:// or https://"},
		{"file:///etc/c.json#sha256=" + sum, "http:// or https://"},
		{"http:///c.json#sha256=" + sum, "with a host"},
		{"h/c.json#sha256=" + sum, "http:// or https://"},
		{"http://h/" + strings.Repeat("a", MaxConfigURL) + "#sha256=" + sum, "longer than"},
		{"http://h/%zz#sha256=" + sum, "not a URL"},
	} {
		_, err := ParseConfigURL(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfigURL(%.60q) = %v, want an error with %q", tc.v, err, tc.want)
		}
	}
}

// TestConfigURLKey checks the key on the command line: it is read there,
// validated, cleared by Sanitize when bad, and refused in JSON.
func TestConfigURLKey(t *testing.T) {
	v := "http://10.0.2.2:80/c.json#sha256=" + sumOf("{}")
	c, err := ParseCmdline("console=ttyS0 ironvisor.config=" + v)
	if err != nil || c.ConfigURL != v || c.Validate() != nil {
		t.Fatalf("ParseCmdline: %+v, %v, %v", c, err, c.Validate())
	}
	c, err = ParseCmdline("ironvisor.config=http://h/c.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Sanitize()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != KeyConfigURL || got.ConfigURL != "" {
		t.Errorf("Sanitize: %+v, %v; want the URL cleared and a FieldError for %s", got, err, KeyConfigURL)
	}
	if _, err := DecodeJSON(Defaults(), strings.NewReader(`{"config":"x"}`)); err == nil {
		t.Error("a JSON document may name a config URL")
	}
	if _, err := DecodeJSON(Defaults(), strings.NewReader(`{"test_hook":"unhealthy"}`)); err == nil {
		t.Error("a JSON document may set a test hook")
	}
}

func TestUpdateDeadlineAndTestHook(t *testing.T) {
	c, err := ParseCmdline("ironvisor.update_deadline=20s ironvisor.test_hook=unhealthy")
	if err != nil || c.Validate() != nil {
		t.Fatalf("%+v, %v, %v", c, err, c.Validate())
	}
	if d, err := ParseUpdateDeadline(c.UpdateDeadline); d != 20*time.Second || err != nil {
		t.Errorf("ParseUpdateDeadline(20s) = %v, %v", d, err)
	}
	if d, err := ParseUpdateDeadline(""); d != DefaultUpdateDeadline || err != nil {
		t.Errorf("ParseUpdateDeadline() = %v, %v, want the default", d, err)
	}
	for _, bad := range []string{"9s", "2h", "five", "-1m"} {
		if _, err := ParseUpdateDeadline(bad); err == nil {
			t.Errorf("ParseUpdateDeadline(%q) accepted", bad)
		}
	}
	c, _ = ParseCmdline("ironvisor.update_deadline=1s ironvisor.test_hook=freeze-everything")
	got, err := c.Sanitize()
	if err == nil || got.UpdateDeadline != "" || got.TestHook != "" {
		t.Errorf("Sanitize kept bad values: %+v (%v)", got, err)
	}
	for _, key := range []string{KeyUpdateDeadline, KeyTestHook} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
}

// serveConfig serves body at /c.json and returns the config URL for it,
// with the checksum of want (body itself when want is "").
func serveConfig(t *testing.T, h http.HandlerFunc, want string) ConfigURL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := ParseConfigURL(srv.URL + "/c.json#sha256=" + sumOf(want))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fast are fetch options for tests: short attempts and pauses.
var fast = FetchOptions{Attempt: 2 * time.Second, Retry: 10 * time.Millisecond}

func TestLoadURLGood(t *testing.T) {
	doc := `{"api":":9443","cpu_overcommit":"2","update_deadline":"30s"}`
	c := serveConfig(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(doc)) }, doc)
	base := Defaults()
	base.Hostname = "from-file"
	got, err := LoadURL(context.Background(), base, c, fast)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "from-file" || got.API != ":9443" || got.CPUOvercommit != "2" || got.UpdateDeadline != "30s" {
		t.Errorf("LoadURL = %+v", got)
	}
}

// TestLoadURLRetriesTransient: a 503 and a dropped connection are retried
// until the document comes.
func TestLoadURLRetriesTransient(t *testing.T) {
	doc := `{"hostname":"late"}`
	var n atomic.Int32
	c := serveConfig(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case 2:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		default:
			w.Write([]byte(doc))
		}
	}, doc)
	got, err := LoadURL(context.Background(), Defaults(), c, fast)
	if err != nil || got.Hostname != "late" || n.Load() != 3 {
		t.Errorf("LoadURL = %+v, %v after %d requests", got, err, n.Load())
	}
}

// TestLoadURLFailures: each failure leaves the base configuration as it
// was and says what went wrong; only transient ones are retried.
func TestLoadURLFailures(t *testing.T) {
	good := `{"hostname":"x"}`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/c.json#sha256=" + sumOf(good)
	ln.Close() // nothing listens there any more: connection refused
	for _, tc := range []struct {
		name      string
		h         http.HandlerFunc
		sumOf     string
		url       string // instead of a server
		want      string
		wantTries int32 // 0: do not count
		transient bool
	}{
		{name: "bad checksum", h: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"hostname":"evil"}`)) },
			sumOf: good, want: "sha256 mismatch", wantTries: 1},
		{name: "not found", h: http.NotFound, sumOf: good, want: "404 Not Found", wantTries: 1},
		{name: "too large", h: func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, MaxFileSize+1)) },
			sumOf: good, want: "larger than 65536 bytes", wantTries: 1},
		{name: "bad json", h: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"hostname":`)) },
			sumOf: `{"hostname":`, want: "decode config"},
		{name: "unknown field", h: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"hostnam":"x"}`)) },
			sumOf: `{"hostnam":"x"}`, want: `unknown field "hostnam"`},
		{name: "always 500", h: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) },
			sumOf: good, want: "500 Internal Server Error", transient: true},
		{name: "unreachable", url: closed, want: "unreachable", transient: true},
		{name: "too slow", h: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			sumOf: good, want: "unreachable", transient: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var c ConfigURL
			if tc.url != "" {
				c, err = ParseConfigURL(tc.url)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				c = serveConfig(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1); tc.h(w, r) }, tc.sumOf)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			o := fast
			o.Attempt = 200 * time.Millisecond
			base := Defaults()
			base.Hostname = "kept"
			start := time.Now()
			got, err := LoadURL(ctx, base, c, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadURL: %v, want an error with %q", err, tc.want)
			}
			if got.Hostname != "kept" {
				t.Errorf("LoadURL changed the base: %+v", got)
			}
			if tc.wantTries != 0 && n.Load() != tc.wantTries {
				t.Errorf("%d requests, want %d", n.Load(), tc.wantTries)
			}
			if tc.transient && !strings.Contains(err.Error(), "attempts)") {
				t.Errorf("a transient failure was not retried: %v", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("LoadURL took %v past its deadline", el)
			}
		})
	}
}
