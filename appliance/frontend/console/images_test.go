package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// progressValue finds a progress bar's percentage.
var progressValue = regexp.MustCompile(`<progress max="100" value="(\d+)"`)

// halfServer serves body with its length, sends the first half at once
// and the rest only after release is closed.
func halfServer(t *testing.T, body []byte, release <-chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-release:
			w.Write(body[len(body)/2:])
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/disk.raw"
}

// waitPage polls page until its body holds want, for at most 10 s.
func waitPage(t *testing.T, b *browser, page, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		a := b.mustGet(page, http.StatusOK)
		if strings.Contains(a.body, want) {
			return a.body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q: %.3000s", page, want, a.body)
		}
		<-tick.C
	}
}

// TestImageImportProgress: the admin starts an import from the images
// page's form and follows it there: half downloaded shows 50% in a
// progress bar (inside the live part of the page), then the job is done
// and the image listed. A tenant sees neither the jobs nor the form, and
// a malformed digest is refused with the store's message.
func TestImageImportProgress(t *testing.T) {
	e := newEnv(t)
	raw := imagetest.CloudDisk(t, testutil.PVHHello("hello", testutil.ExitHalt))
	if len(raw)%2 != 0 {
		raw = append(raw, 0)
	}
	sum := sha256.Sum256(raw)
	release := make(chan struct{})
	u := halfServer(t, raw, release)
	send := sync.OnceFunc(func() { close(release) })
	t.Cleanup(send) // before the server's Close, also on failure
	admin := e.login(e.admin)

	a := admin.post("/console/image-imports", url.Values{"name": {"cloud"}, "url": {u}, "digest": {"abc"}})
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "sha256") {
		t.Fatalf("a short digest: %d: %.500s", a.status, a.body)
	}
	a = admin.post("/console/image-imports", url.Values{"name": {"cloud"}, "url": {u}, "digest": {hex.EncodeToString(sum[:])}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/images" {
		t.Fatalf("import: %d %s: %.500s", a.status, a.header.Get("Location"), a.body)
	}
	// The bar shows as soon as the download starts, at 0%: wait for the
	// first bytes to be counted.
	var body, live string
	var m []string
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		body = waitPage(t, admin, "/console/images", `<progress max="100" value="`)
		live = body[strings.Index(body, `id="imports-live"`):]
		if m = progressValue.FindStringSubmatch(live); m == nil || m[1] != "0" || time.Now().After(deadline) {
			break
		}
	}
	if m == nil || !strings.Contains(live, "download: ") || !strings.Contains(live, m[1]+"%, ") {
		t.Fatalf("the running import's row: %.2000s", live)
	}
	// Half the body is sent: more than nothing, less than all of it.
	if v, _ := strconv.Atoi(m[1]); v <= 0 || v >= 100 {
		t.Errorf("progress %d%% with half the body sent", v)
	}
	send()
	e.imgs.WaitImports()
	body = waitPage(t, admin, "/console/images", "succeeded")
	if !strings.Contains(body, "<td>cloud</td>") {
		t.Errorf("the imported image is not listed: %.3000s", body)
	}

	_, tok := e.tenant("acme")
	tb := e.login(tok)
	if a := tb.mustGet("/console/images", http.StatusOK); strings.Contains(a.body, "imports-live") || strings.Contains(a.body, "/console/image-imports") {
		t.Error("a tenant sees the import jobs or the import form")
	}
	if a := tb.post("/console/image-imports", url.Values{"name": {"x"}, "url": {u}, "digest": {hex.EncodeToString(sum[:])}}); a.status != http.StatusForbidden {
		t.Errorf("a tenant's import: %d, want 403", a.status)
	}
}
