package rack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// Get fetches path (e.g. "/index.html") from a forwarded guest TCP port
// over plain HTTP and returns the body. Anything but 200 OK is an error
// holding the status and body. The appliance API is HTTPS with a token:
// use API for it.
func (s *Server) Get(ctx context.Context, guestPort int, path string) ([]byte, error) {
	addr := s.Addr(guestPort)
	if addr == "" {
		return nil, fmt.Errorf("rack %s: guest port %d is not forwarded", s.opts.Name, guestPort)
	}
	body, _, err := do(ctx, http.DefaultClient, http.MethodGet, "http://"+addr+path, "", "", nil)
	return body, err
}

// GetJSON fetches path like Get and decodes the JSON body into v.
func (s *Server) GetJSON(ctx context.Context, guestPort int, path string, v any) error {
	body, err := s.Get(ctx, guestPort, path)
	return decode(path, body, err, v)
}

// Banner is what the appliance's console banner says about reaching its
// API.
type Banner struct {
	// URL is the API URL inside the rack, from the READY line.
	URL string
	// Fingerprint is the SHA-256 fingerprint of the API's certificate.
	Fingerprint string
	// AdminToken is the admin token; the banner shows it only on the
	// first start of a data directory.
	AdminToken string
}

// Lines of the appliance banner (appliance/boot serve.go).
var (
	bannerReady       = regexp.MustCompile(`IRONVISOR READY api=(\S+)\r?\n`)
	bannerFingerprint = regexp.MustCompile(`\n  TLS      SHA-256 ([0-9A-F]{2}(?::[0-9A-F]{2}){31})\r?\n`)
	bannerAdmin       = regexp.MustCompile(`\n  Admin    (ivt_[0-9A-Za-z_-]+)\r?\n`)
)

// ParseBanner reads the last banner in an appliance's console output. The
// READY line and the fingerprint are required; the admin token is there
// only on a first start.
func ParseBanner(console string) (Banner, error) {
	last := func(re *regexp.Regexp) string {
		m := re.FindAllStringSubmatch(console, -1)
		if len(m) == 0 {
			return ""
		}
		return m[len(m)-1][1]
	}
	b := Banner{URL: last(bannerReady), Fingerprint: last(bannerFingerprint), AdminToken: last(bannerAdmin)}
	if b.URL == "" || b.Fingerprint == "" {
		return b, errors.New("the console shows no appliance banner with a READY line and a TLS fingerprint")
	}
	return b, nil
}

// API is a client of the appliance API on a forwarded guest port. It
// speaks HTTPS and trusts only the certificate whose SHA-256 fingerprint
// the console showed (the certificate is self-signed, so there is nothing
// else to trust), and sends Token as its bearer token.
type API struct {
	base   string
	Token  string
	client *http.Client
}

// API returns a client for the appliance API behind guestPort, pinned to
// fingerprint, with token ("" for none).
func (s *Server) API(guestPort int, fingerprint, token string) (*API, error) {
	addr := s.Addr(guestPort)
	if addr == "" {
		return nil, fmt.Errorf("rack %s: guest port %d is not forwarded", s.opts.Name, guestPort)
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is not verified against any CA: the pin below is the
		// whole check, as with ssh's known hosts.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			return CheckFingerprint(raw[0], fingerprint)
		},
	}
	return &API{base: "https://" + addr, Token: token,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// Do sends a request with the token and returns the body of a 2xx answer;
// any other status is an error holding the status and body (also
// returned).
func (a *API) Do(ctx context.Context, method, path, ctype string, body io.Reader) ([]byte, error) {
	b, _, err := do(ctx, a.client, method, a.base+path, a.Token, ctype, body)
	return b, err
}

// GetJSON gets path and decodes the JSON answer into v.
func (a *API) GetJSON(ctx context.Context, path string, v any) error {
	body, err := a.Do(ctx, http.MethodGet, path, "", nil)
	return decode(path, body, err, v)
}

// SendJSON sends in (nil for no body) as JSON with method and decodes the
// answer into out (nil to ignore it).
func (a *API) SendJSON(ctx context.Context, method, path string, in, out any) error {
	var r io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		r, ctype = bytes.NewReader(b), "application/json"
	}
	body, err := a.Do(ctx, method, path, ctype, r)
	if out == nil {
		return err
	}
	return decode(path, body, err, out)
}

// Status sends a request without a body and returns only the status code
// (for checks that a request is refused).
func (a *API) Status(ctx context.Context, method, path string) (int, error) {
	_, code, err := do(ctx, a.client, method, a.base+path, a.Token, "", nil)
	if code != 0 {
		err = nil
	}
	return code, err
}

// do sends one request and reads the answer (at most 16 MiB). A status
// other than 2xx is an error holding the status and body.
func do(ctx context.Context, c *http.Client, method, url, token, ctype string, body io.Reader) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return b, resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	return b, resp.StatusCode, nil
}

// decode decodes body into v unless err is set.
func decode(path string, body []byte, err error, v any) error {
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: decode: %w: %.200s", path, err, body)
	}
	return nil
}

// ApplianceHost reads the appliance's banner from the console and fetches
// GET /v1/host from its API on guestPort into v, over HTTPS pinned to the
// banner's fingerprint, with the banner's admin token (so only after a
// first start, whose banner shows it).
func (s *Server) ApplianceHost(ctx context.Context, guestPort int, v any) error {
	b, err := ParseBanner(s.Console.String())
	if err != nil {
		return err
	}
	if b.AdminToken == "" {
		return errors.New("the banner shows no admin token (not a first start)")
	}
	a, err := s.API(guestPort, b.Fingerprint, b.AdminToken)
	if err != nil {
		return err
	}
	return a.GetJSON(ctx, "/v1/host", v)
}

// CheckFingerprint checks that the DER certificate cert has the SHA-256
// fingerprint the banner showed (hex, colons and case ignored).
func CheckFingerprint(cert []byte, fingerprint string) error {
	want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
	sum := sha256.Sum256(cert)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("server certificate SHA-256 %s is not the pinned %s", got, want)
	}
	return nil
}
