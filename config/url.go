package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The config URL is a third source of the configuration, named on the
// kernel command line as ironvisor.config=URL#sha256=HEX: a JSON document
// (as for --config FILE) that PID 1 fetches once the uplink is up, checks
// against the SHA-256 the command line carries, and applies between the
// --config file and the command line. The sources apply in this order,
// each over the ones before:
//
//  1. Defaults;
//  2. the --config FILE of init's arguments (DecodeJSON);
//  3. the JSON document at the config URL (FetchURL, DecodeJSON);
//  4. the ironvisor.* keys of the kernel command line (ApplyCmdline).
//
// The command line is last because it is what an operator sets per boot
// (and what a boot loader entry pins); the URL sits below it so one
// document can serve a rack while a box's own command line still wins.
// Keys that steps before the uplink consume (uplink, address, gateway,
// dns, iface) cannot change once the URL is read; the boot reports such
// keys in the document and keeps their earlier values.

// KeyConfigURL is ironvisor.config=URL#sha256=HEX, read from the kernel
// command line only (a JSON document naming another would chain fetches).
const KeyConfigURL = "ironvisor.config"

// MaxConfigURL bounds the length of a config URL with its checksum.
const MaxConfigURL = 1024

// ConfigURL is a parsed config URL: where the document is and the SHA-256
// it must have.
type ConfigURL struct {
	URL    string // http or https, without the fragment
	SHA256 [sha256.Size]byte
}

// ParseConfigURL reads a config URL, "URL#sha256=HEX": URL is an http or
// https URL with a host, HEX the 64 hex digits of the document's SHA-256.
// The checksum is required: the document configures the whole appliance
// and usually travels over plain HTTP.
func ParseConfigURL(v string) (ConfigURL, error) {
	if len(v) > MaxConfigURL {
		return ConfigURL{}, fmt.Errorf("longer than %d bytes", MaxConfigURL)
	}
	raw, frag, ok := strings.Cut(v, "#")
	if !ok {
		return ConfigURL{}, errors.New("needs the document's checksum: URL#sha256=HEX")
	}
	hexSum, ok := strings.CutPrefix(frag, "sha256=")
	if !ok {
		return ConfigURL{}, fmt.Errorf("fragment %q: want sha256=HEX", frag)
	}
	var c ConfigURL
	if len(hexSum) != 2*sha256.Size {
		return ConfigURL{}, fmt.Errorf("sha256 %q: want %d hex digits", hexSum, 2*sha256.Size)
	}
	if _, err := hex.Decode(c.SHA256[:], []byte(hexSum)); err != nil {
		return ConfigURL{}, fmt.Errorf("sha256 %q: want %d hex digits", hexSum, 2*sha256.Size)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ConfigURL{}, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return ConfigURL{}, errors.New("want an http:// or https:// URL with a host")
	}
	if strings.ContainsAny(raw, " \t\n\x00") {
		return ConfigURL{}, errors.New("white space or NUL in the URL")
	}
	c.URL = raw
	return c, nil
}

// String formats c as it is written on the command line.
func (c ConfigURL) String() string {
	return c.URL + "#sha256=" + hex.EncodeToString(c.SHA256[:])
}

// FetchOptions bounds FetchURL. Zero values mean the defaults given.
type FetchOptions struct {
	// Client makes the requests; nil means a client that uses no proxy.
	Client *http.Client
	// Attempt bounds one request; 0 means 10s.
	Attempt time.Duration
	// Retry is the first pause between attempts, doubled up to 4s; 0
	// means 500ms. Attempts go on until ctx ends, but only while the
	// server cannot be reached or answers 5xx or 429: a wrong checksum,
	// a 4xx or an oversized document is final.
	Retry time.Duration
	// Logf, if set, reports each failed attempt.
	Logf func(string, ...any)
}

// ErrChecksum is the error FetchURL wraps when the document's SHA-256 is
// not the one the URL names.
var ErrChecksum = errors.New("sha256 mismatch")

// FetchURL GETs the document at c and returns it once its SHA-256 matches
// c's. The document is at most MaxFileSize bytes. Transient failures are
// retried until ctx ends (see FetchOptions); the error then says how many
// attempts failed and the last reason.
func FetchURL(ctx context.Context, c ConfigURL, o FetchOptions) ([]byte, error) {
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if o.Attempt == 0 {
		o.Attempt = 10 * time.Second
	}
	if o.Retry == 0 {
		o.Retry = 500 * time.Millisecond
	}
	pause := o.Retry
	for attempt := 1; ; attempt++ {
		b, retry, err := fetchOnce(ctx, c, o)
		if err == nil {
			return b, nil
		}
		if !retry {
			return nil, err
		}
		if o.Logf != nil {
			o.Logf("config url: attempt %d: %v", attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%d attempts)", err, attempt)
		case <-time.After(pause):
		}
		pause = min(2*pause, 4*time.Second)
	}
}

// fetchOnce makes one request; retry says whether another may succeed.
func fetchOnce(ctx context.Context, c ConfigURL, o FetchOptions) (b []byte, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, o.Attempt)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.URL, nil)
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", c.URL, err)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		transient := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return nil, transient, fmt.Errorf("GET %s: %s", c.URL, resp.Status)
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, MaxFileSize+1))
	if err != nil {
		return nil, true, fmt.Errorf("GET %s: reading the body: %w", c.URL, err)
	}
	if len(b) > MaxFileSize {
		return nil, false, fmt.Errorf("GET %s: the document is larger than %d bytes", c.URL, MaxFileSize)
	}
	if sum := sha256.Sum256(b); !bytes.Equal(sum[:], c.SHA256[:]) {
		return nil, false, fmt.Errorf("%w: the %d bytes at %s have sha256 %x, the command line wants %x",
			ErrChecksum, len(b), c.URL, sum, c.SHA256)
	}
	return b, false, nil
}

// LoadURL fetches the document at c (FetchURL) and decodes it on top of
// base (DecodeJSON). On any error base is returned unchanged.
func LoadURL(ctx context.Context, base Config, c ConfigURL, o FetchOptions) (Config, error) {
	b, err := FetchURL(ctx, c, o)
	if err != nil {
		return base, err
	}
	cfg, err := DecodeJSON(base, bytes.NewReader(b))
	if err != nil {
		return base, fmt.Errorf("%s: %w", c.URL, err)
	}
	return cfg, nil
}
