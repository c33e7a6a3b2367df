package racktest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ironvisor/ironvisor/build/rack"
)

// The web console's end-to-end test drives Debian's headless Chromium
// (package chromium, installed by make deps) over the DevTools protocol
// with chromedp, from this host, against an appliance in a rack server
// whose management port is forwarded to 127.0.0.1.

// chromiumNames are the names Debian's package gives the browser.
var chromiumNames = []string{"chromium", "chromium-browser"}

// findChromium returns the browser's path. A missing browser fails the
// test: make deps installs it, and CI must not skip.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("no headless browser: none of %v on $PATH; `make deps` installs Debian's chromium", chromiumNames)
	return ""
}

// pinnedSPKI connects to addr, checks that its certificate has the
// SHA-256 fingerprint the appliance's console showed, and returns the
// base64 SHA-256 of the certificate's public key: what Chromium's
// --ignore-certificate-errors-spki-list trusts. The browser so trusts
// this one self-signed key only, as the pinned API client does.
func pinnedSPKI(ctx context.Context, addr, fingerprint string) (string, error) {
	var spki string
	d := tls.Dialer{Config: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the pin below is the whole check
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			if err := rack.CheckFingerprint(raw[0], fingerprint); err != nil {
				return err
			}
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			spki = base64.StdEncoding.EncodeToString(sum[:])
			return nil
		},
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	conn.Close()
	return spki, nil
}

// browser starts headless Chromium with a fresh profile, trusting only
// the key spki, and returns a tab's context; it is closed when the test
// ends. The flags keep it off every network but the appliance's port:
// this machine has none other.
func browser(t *testing.T, ctx context.Context, spki string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		// The test runs as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// Start the browser now, so a broken install fails here.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// shots keeps the screenshots of one run in dir (.cache/console-shots
// beside the artefacts), numbered in the order taken.
type shots struct {
	dir string
	n   int
}

// newShots empties dir for this run's screenshots.
func newShots(t *testing.T, dir string) *shots {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &shots{dir: dir}
}

// unsafeName matches what a screenshot's file name may not hold.
var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// take saves a full-page PNG of the tab as NN-name.png.
func (s *shots) take(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	s.n++
	p := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, unsafeName.ReplaceAllString(name, "-")))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// typeText types text into the focused element as a keyboard does: per
// key a keyDown carrying the key's text, then a keyUp, so the browser
// makes the keypress and input events itself and honours a keydown
// handler's preventDefault (xterm.js sends a key from keydown and
// cancels the rest). chromedp's SendKeys adds a separate "char" event
// per key, which nothing can cancel: a terminal receives each key twice.
func typeText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range text {
			k, ok := kb.Keys[r]
			if !ok {
				return fmt.Errorf("type %q: no key for it", r)
			}
			down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k.Key, Code: k.Code,
				Text: k.Text, UnmodifiedText: k.Unmodified, WindowsVirtualKeyCode: k.Windows, NativeVirtualKeyCode: k.Native}
			if k.Shift {
				down.Modifiers = int64(kb.ModifierShift)
			}
			up := down
			up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
			for _, ev := range []input.DispatchKeyEventParams{down, up} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
					return fmt.Errorf("type %q: %w", r, err)
				}
			}
		}
		return nil
	})
}

// within runs actions in tab with a deadline of d.
func within(tab context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// value runs action in tab with a deadline of d and returns its value.
func value[T any](tab context.Context, d time.Duration, action chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	return chromedp.Run(ctx, action)
}
