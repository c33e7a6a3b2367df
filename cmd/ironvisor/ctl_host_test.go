package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtlHostUpdate: a FILE is hashed here and streamed as the uki part
// after the sha256 and tries fields; a URL needs --sha256 and is sent
// without a file part; a wrong --sha256 for a FILE is refused before
// sending.
func TestCtlHostUpdate(t *testing.T) {
	uki := []byte("MZ pretend UKI")
	file := filepath.Join(t.TempDir(), "new.efi")
	os.WriteFile(file, uki, 0o600)
	sum := sha256.Sum256(uki)
	want := hex.EncodeToString(sum[:])
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/host/update" {
			w.WriteHeader(404)
			return
		}
		got = map[string]string{}
		mr, err := r.MultipartReader()
		if err != nil {
			w.WriteHeader(400)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			got[p.FormName()] = string(b)
		}
		w.WriteHeader(202)
		w.Write([]byte(`{"outcome":"pending","slot":"b","generation":2,"version":"v2","sha256":"` + want + `","from_slot":"a","from_version":"v1","tries":3,"rebooting":true}`))
	}))
	defer srv.Close()
	ctl := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := ctlMain(append([]string{"--url", srv.URL, "--token", "tok", "host", "update"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := ctl(file, "--tries", "2")
	if code != 0 || got["sha256"] != want || got["tries"] != "2" || got["uki"] != string(uki) || got["url"] != "" {
		t.Fatalf("file: exit %d %q %q; server got %v", code, out, errs, got)
	}
	if !strings.Contains(out, "installed version v2 in slot b") {
		t.Errorf("output %q", out)
	}
	got = nil
	if code, _, errs := ctl("https://example.invalid/new.efi"); code != 2 || !strings.Contains(errs, "--sha256 is required") || got != nil {
		t.Errorf("url without sha256: exit %d %q, server got %v", code, errs, got)
	}
	if code, _, errs := ctl("--sha256", want, "http://example.invalid/new.efi"); code != 0 || got["url"] != "http://example.invalid/new.efi" || got["uki"] != "" {
		t.Errorf("url: exit %d %q, server got %v", code, errs, got)
	}
	got = nil
	if code, _, errs := ctl("--sha256", strings.Repeat("0", 64), file); code != 1 || !strings.Contains(errs, "has sha256 "+want) || got != nil {
		t.Errorf("wrong sha256: exit %d %q, server got %v", code, errs, got)
	}
}
