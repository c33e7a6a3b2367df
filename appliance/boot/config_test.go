package boot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/config"
)

// urlAppliance serves doc over HTTP on the loopback and returns an
// appliance whose command line names it with the checksum of sumOf (doc's
// own when ""), after the "config" step, and where the hostname it sets
// is recorded.
func urlAppliance(t *testing.T, doc, sumOf, cmdline string, args ...string) (*appliance, *strings.Builder, *string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(doc)) }))
	t.Cleanup(srv.Close)
	if sumOf == "" {
		sumOf = doc
	}
	sum := sha256.Sum256([]byte(sumOf))
	a, out := testAppliance(t, cmdline+" ironvisor.config="+srv.URL+"/c.json#sha256="+hex.EncodeToString(sum[:]), args...)
	host := new(string)
	a.sethostname = func(b []byte) error { *host = string(b); return nil }
	a.tl.Run("config", a.loadConfig)
	var sb strings.Builder
	sb.WriteString(out.String())
	return a, &sb, host
}

// source returns the configuration source named src.
func source(t *testing.T, a *appliance, src string) hostinfo.ConfigSource {
	t.Helper()
	for _, s := range a.configSources() {
		if s.Source == src {
			return s
		}
	}
	t.Fatalf("no %s source in %+v", src, a.configSources())
	return hostinfo.ConfigSource{}
}

// TestConfigURLSitsBetweenFileAndCmdline: the document overrides the
// --config file and the command line overrides the document; its
// hostname is set, its uplink keys are ignored and said so.
func TestConfigURLSitsBetweenFileAndCmdline(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"hostname":"fromfile","api":":7000","cpu_overcommit":"2"}`), 0o600)
	doc := `{"hostname":"fromurl","api":":7001","update_deadline":"15s","uplink":"static","address":"192.0.2.9/24"}`
	a, _, host := urlAppliance(t, doc, "", "console=ttyS0 ironvisor.api=:7002", "--config", file)
	if s := source(t, a, "url"); s.Applied || !strings.Contains(s.Error, "not fetched yet") {
		t.Errorf("before the fetch: url source %+v", s)
	}
	if err := a.fetchConfigURL(nil); err != nil {
		t.Fatal(err)
	}
	c := a.cfg
	if c.Hostname != "fromurl" || c.API != ":7002" || c.CPUOvercommit != "2" || c.UpdateDeadline != "15s" {
		t.Errorf("config = %+v, want the URL's hostname and deadline, the file's overcommit, the command line's API", c)
	}
	if c.Uplink != config.UplinkDHCP || c.Address != "" {
		t.Errorf("the URL changed the uplink after it was up: %+v", c)
	}
	if *host != "fromurl" {
		t.Errorf("hostname set to %q, want fromurl", *host)
	}
	var names []string
	for _, s := range a.configSources() {
		names = append(names, s.Source)
		if !s.Applied {
			t.Errorf("source %+v not applied", s)
		}
	}
	if strings.Join(names, ",") != "defaults,file,url,cmdline" {
		t.Errorf("sources %v", names)
	}
	if s := source(t, a, "url"); strings.Join(s.Ignored, ",") != "ironvisor.uplink,ironvisor.address" || s.Error != "" || !strings.HasPrefix(s.Where, "http://127.0.0.1:") {
		t.Errorf("url source %+v", s)
	}
}

// TestConfigURLFailures: a wrong checksum, bad JSON, an unreachable URL
// and a down uplink are each reported, the other sources stay in force,
// and the source says why.
func TestConfigURLFailures(t *testing.T) {
	good := `{"hostname":"fromurl"}`
	for _, tc := range []struct {
		name, doc, sumOf string
		uplink           error
		closed           bool
		want             string
	}{
		{name: "checksum", doc: `{"hostname":"evil"}`, sumOf: good, want: "sha256 mismatch"},
		{name: "bad json", doc: `{"hostname":`, want: "decode config"},
		{name: "unknown key", doc: `{"hostname":"x","bogus":1}`, want: `unknown field "bogus"`},
		{name: "unreachable", doc: good, closed: true, want: "unreachable"},
		{name: "no uplink", doc: good, uplink: errors.New("no ethernet interface found"), want: "the uplink did not come up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, host := urlAppliance(t, tc.doc, tc.sumOf, "ironvisor.hostname=fromcmd ironvisor.api=:7002")
			if tc.closed {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				sum := sha256.Sum256([]byte(tc.doc))
				a.cfg.ConfigURL = "http://" + ln.Addr().String() + "/c.json#sha256=" + hex.EncodeToString(sum[:])
				orig := configURLWait
				t.Cleanup(func() { configURLWait = orig })
				configURLWait = 1500 * time.Millisecond // a few attempts
			}
			err := a.tl.Run("config-url", func() error { return a.fetchConfigURL(tc.uplink) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "going on with the other sources") {
				t.Fatalf("fetchConfigURL: %v, want %q", err, tc.want)
			}
			if a.cfg.Hostname != "fromcmd" || a.cfg.API != ":7002" || *host != "" {
				t.Errorf("config %+v (hostname set to %q), want the command line's", a.cfg, *host)
			}
			s := source(t, a, "url")
			if s.Applied || !strings.Contains(s.Error, tc.want) {
				t.Errorf("url source %+v, want not applied with %q", s, tc.want)
			}
			if f := a.tl.Report().Failures; len(f) != 1 || f[0].Step != "config-url" {
				t.Errorf("failures %+v, want one of config-url", f)
			}
		})
	}
}

// TestConfigURLBadValue: a value of the document that fails validation
// is reset to its default and told against the URL's source.
func TestConfigURLBadValue(t *testing.T) {
	a, _, _ := urlAppliance(t, `{"update_deadline":"1s","hostname":"fromurl"}`, "", "")
	err := a.fetchConfigURL(nil)
	if err == nil || !strings.Contains(err.Error(), config.KeyUpdateDeadline) {
		t.Fatalf("fetchConfigURL: %v", err)
	}
	if a.cfg.UpdateDeadline != "" || a.cfg.Hostname != "fromurl" {
		t.Errorf("config %+v", a.cfg)
	}
	if s := source(t, a, "url"); !s.Applied || !strings.Contains(s.Error, config.KeyUpdateDeadline) {
		t.Errorf("url source %+v", s)
	}
	if s := source(t, a, "cmdline"); s.Error != "" {
		t.Errorf("the command line is blamed: %+v", s)
	}
}

// TestNoConfigURL: without the key the step does nothing.
func TestNoConfigURL(t *testing.T) {
	a, _ := testAppliance(t, "ironvisor.hostname=h")
	a.loadConfig()
	if err := a.fetchConfigURL(nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.configSources() {
		if s.Source == "url" {
			t.Errorf("a url source without the key: %+v", a.configSources())
		}
	}
}
