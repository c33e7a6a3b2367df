package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
)

// TestStrangers: failed authentications from one client address, on
// the native API (a bad or missing token), the console (a failed login)
// and the EC2 endpoint (an unknown access key), count against one
// bucket of that address; past it, every front end refuses the address
// in its own format, before authenticating (a good token is refused
// too), while another address and the tenant's own requests are served.
func TestStrangers(t *testing.T) {
	now := time.Unix(2e9, 0)
	e := newEnv(t, nil, func(c *Config) {
		c.StrangerRate, c.StrangerBurst = 0.01, 4
		c.Now = func() time.Time { return now }
	})
	h := e.cp.Handler()
	// send serves r from addr; a refused request's hold ends at once
	// (done is cancelled), the front ends never see it.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	send := func(addr string, r *http.Request) *httptest.ResponseRecorder {
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(done))
		return w
	}
	api := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/host", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return send(addr, r)
	}
	login := func(addr, token string) *httptest.ResponseRecorder {
		form := send(addr, httptest.NewRequest("GET", "/console/login", nil))
		if form.Code == http.StatusTooManyRequests {
			return form // the whole console is refused to the address
		}
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form.Body.String())
		if form.Code != 200 || m == nil {
			t.Fatalf("login form from %s: %d", addr, form.Code)
		}
		r := httptest.NewRequest("POST", "/console/login", strings.NewReader(url.Values{"csrf": {m[1]}, "token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range form.Result().Cookies() {
			r.AddCookie(c)
		}
		return send(addr, r)
	}
	ec2call := func(addr, keyID string) *httptest.ResponseRecorder {
		body := "Action=DescribeInstances&Version=2016-11-15"
		r := httptest.NewRequest("POST", "http://appliance"+ec2.Path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: "guessed"},
			r, hex.EncodeToString(sum[:]), "ec2", ec2.DefaultRegion, now); err != nil {
			t.Fatal(err)
		}
		return send(addr, r)
	}

	const stranger, other = "198.51.100.7:40000", "203.0.113.9:40000"
	for i := range 10 { // authenticated requests take nothing
		if w := api(stranger, e.admin); w.Code != 200 {
			t.Fatalf("admin request %d: %d", i, w.Code)
		}
	}
	for i, w := range []*httptest.ResponseRecorder{api(stranger, "ivt_guessed"), login(stranger, "ivt_guessed"),
		ec2call(stranger, "AKIAGUESSED"), api(stranger, "")} {
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d of the burst: %d, want 401: %s", i, w.Code, w.Body)
		}
	}
	if w := api(stranger, e.admin); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"RequestLimitExceeded"`) ||
		w.Header().Get("Retry-After") == "" {
		t.Fatalf("API past the burst, with a good token: %d %s (Retry-After %q)", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if w := login(stranger, e.admin); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "too many failed") {
		t.Fatalf("console login past the burst: %d", w.Code)
	}
	if w := ec2call(stranger, "AKIAGUESSED"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "<Code>RequestLimitExceeded</Code>") {
		t.Fatalf("EC2 past the burst: %d %s", w.Code, w.Body)
	}
	if w := api(other, e.admin); w.Code != 200 {
		t.Fatalf("another address: %d", w.Code)
	}
	if w := api(other, "ivt_typo"); w.Code != http.StatusUnauthorized {
		t.Fatalf("another address's failure: %d, want 401", w.Code)
	}
	now = now.Add(100 * time.Second) // one failure's worth at 0.01/s
	if w := api(stranger, e.admin); w.Code != 200 {
		t.Fatalf("after the bucket refilled: %d", w.Code)
	}
}
