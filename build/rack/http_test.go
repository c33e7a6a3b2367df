package rack

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// fingerprintOf formats a DER certificate's SHA-256 as the banner does.
func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func TestParseBanner(t *testing.T) {
	fp := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	console := "boot\r\n================\r\n  API      https://10.0.2.15:8080/\r\n  TLS      SHA-256 " + fp +
		"\r\n  Admin    ivt_0123abcd_Zz-9_x\r\n           (shown once)\r\n=====\r\nIRONVISOR READY api=https://10.0.2.15:8080/\r\n"
	b, err := ParseBanner(console)
	if err != nil {
		t.Fatal(err)
	}
	if b.URL != "https://10.0.2.15:8080/" || b.Fingerprint != fp || b.AdminToken != "ivt_0123abcd_Zz-9_x" {
		t.Errorf("banner = %+v", b)
	}
	// A later start of the same data shows no token.
	b, err = ParseBanner(strings.Replace(console, "  Admin    ivt_0123abcd_Zz-9_x", "  Admin    token created at first start; it is in /var/lib/ironvisor/admin.token", 1))
	if err != nil || b.AdminToken != "" {
		t.Errorf("banner without token = %+v, %v", b, err)
	}
	if _, err := ParseBanner("IRONVISOR READY api=http://10.0.2.15:8080/\n"); err == nil {
		t.Error("a banner without a fingerprint was accepted")
	}
}

// TestAPIPinsTheFingerprint serves HTTPS with a self-signed certificate and
// checks that the client accepts it only under its own fingerprint, and
// sends the token.
func TestAPIPinsTheFingerprint(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"error":"no"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer ts.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	srv := &Server{ports: map[int]int{8080: p}}
	good := fingerprintOf(ts.Certificate().Raw)
	ctx := context.Background()

	a, err := srv.API(8080, good, "tok")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ OK bool }
	if err := a.GetJSON(ctx, "/v1/host", &v); err != nil || !v.OK {
		t.Fatalf("pinned GET: %+v, %v", v, err)
	}
	a.Token = ""
	if code, err := a.Status(ctx, "GET", "/v1/host"); code != http.StatusUnauthorized {
		t.Errorf("without token: %d, %v", code, err)
	}
	bad, _ := srv.API(8080, strings.Repeat("00:", 31)+"00", "tok")
	if err := bad.GetJSON(ctx, "/v1/host", &v); err == nil || !strings.Contains(err.Error(), "is not the pinned") {
		t.Errorf("wrong pin: %v", err)
	}
	if _, err := srv.API(9999, good, "tok"); err == nil {
		t.Error("a port that is not forwarded was accepted")
	}
}
