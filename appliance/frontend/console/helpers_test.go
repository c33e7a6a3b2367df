package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// hostileOutput is what the fake guest prints on its serial console.
const hostileOutput = "booting\n<script>alert('guest')</script>\n"

// fakeRunner starts nothing and answers a fixed console.
type fakeRunner struct{}

func (fakeRunner) Start(context.Context, orchestrator.RunSpec) error { return nil }
func (fakeRunner) Stop(context.Context, string, bool) error          { return nil }
func (fakeRunner) Console(_ context.Context, _ string, off int64, max int) ([]byte, int64, error) {
	if off >= int64(len(hostileOutput)) {
		return nil, off, nil
	}
	b := []byte(hostileOutput[off:])
	b = b[:min(len(b), max)]
	return b, off + int64(len(b)), nil
}

// fixedHost is a host document with a failed boot step.
type fixedHost struct{}

func (fixedHost) Collect() hostinfo.Host {
	return hostinfo.Host{Version: "test", Mode: "service", Hostname: "rack-1", UptimeSeconds: 93784,
		CPU: hostinfo.CPU{Model: "Test CPU", Count: 2}, Memory: hostinfo.Memory{TotalBytes: 8 * types.GiB},
		Addresses: []hostinfo.Address{{Interface: "eth0", CIDR: "192.0.2.10/24"}},
		Boot: timeline.Report{Steps: []timeline.Step{{Name: "store", MS: 3, DurationMS: 2},
			{Name: "uplink", MS: 40, DurationMS: 30, Error: "no carrier on eth1"}}},
		Failures: []timeline.Failure{{Step: "uplink", Error: "no carrier on eth1"}},
		Watchdog: &hostinfo.Watchdog{Device: "/dev/watchdog0", TimeoutSeconds: 60, Healthy: true},
		Storage:  &hostinfo.Storage{Dir: "/var/lib/ironvisor", FSType: "ext4", VolumeMethod: "sparse"},
		Update: &hostinfo.Update{Booted: "b", BootedVersion: "rack-2", Slots: []hostinfo.Slot{
			{Name: "b", Generation: 2, Version: "rack-2", State: "good", Booted: true},
			{Name: "a", Generation: 3, Version: "rack-3-broken", State: "bad", TriesLeft: new(int)}},
			Last: &hostinfo.UpdateResult{Outcome: "rolled back", Slot: "a", Version: "rack-3-broken", FromSlot: "b", FromVersion: "rack-2",
				Reason: "not healthy within 15s"}},
		ConfigSources: []hostinfo.ConfigSource{{Source: "url", Where: "http://192.0.2.1/c.json", Error: "sha256 mismatch"}}}
}

// env is a console over a fresh core, served over TLS as on the
// management listener.
type env struct {
	t     *testing.T
	s     *Server
	srv   *httptest.Server
	auth  *auth.Service
	dom   *domain.Domain
	orch  *orchestrator.Orchestrator
	imgs  *images.Store
	admin string
	image string // the ID of image "tiny"
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	imgs, err := images.New(db, dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	life := lifecycle.NewManager(db, lifecycle.SystemClock{}, types.Host{CPUs: 4, MemBytes: 4 * types.GiB})
	dom := domain.New(domain.Config{DB: db, Life: life})
	catalog := types.NewCatalog(db)
	orch, err := orchestrator.New(orchestrator.Config{DB: db, DataDir: dir, Life: life, Images: imgs, Catalog: catalog,
		Domain: dom, Runner: fakeRunner{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(orch.Wait)
	a := auth.New(db, nil)
	s, err := New(Config{Auth: a, Catalog: catalog, Images: imgs, Meter: metering.NewMeter(db, nil), Domain: dom,
		Orch: orch, Host: fixedHost{}, TLSFingerprint: "AB:CD"})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.Bootstrap(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, srv: srv, auth: a, dom: dom, orch: orch, imgs: imgs, admin: admin}
	e.image = e.addImage("tiny")
	return e
}

// addImage stores an image of the tiny PVH guest and returns its ID.
func (e *env) addImage(name string) string {
	e.t.Helper()
	up, err := e.imgs.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	defer up.Abort()
	if err := up.Add(images.PartKernel, bytes.NewReader(testutil.PVHHello("hello", testutil.ExitHalt))); err != nil {
		e.t.Fatal(err)
	}
	img, err := up.Commit(name, "console=ttyS0")
	if err != nil {
		e.t.Fatal(err)
	}
	return img.ID
}

// tenant creates a tenant and returns its principal and token.
func (e *env) tenant(name string) (auth.Principal, string) {
	e.t.Helper()
	_, tok, err := e.auth.CreateTenant(name)
	if err != nil {
		e.t.Fatal(err)
	}
	who, err := e.auth.Authenticate("Bearer " + tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return who, tok
}

// launch launches one running instance for who and returns its ID.
func (e *env) launch(who auth.Principal) string {
	e.t.Helper()
	insts, err := e.orch.Launch(who, orchestrator.LaunchSpec{Image: e.image, Type: "small", Count: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.orch.Wait()
	return insts[0].ID
}

// browser is one browser: a cookie jar over TLS, following no redirect.
type browser struct {
	e *env
	c *http.Client
	// csrf is the last anti-forgery token a page carried.
	csrf string
}

// browser returns a new browser with no cookies.
func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c}
}

// answer is a response with its body read.
type answer struct {
	status int
	body   string
	header http.Header
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request; a page's anti-forgery token is remembered.
func (b *browser) do(method, path string, form url.Values) answer {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindStringSubmatch(string(out)); m != nil {
		b.csrf = m[1]
	}
	return answer{status: resp.StatusCode, body: string(out), header: resp.Header}
}

func (b *browser) get(path string) answer { return b.do("GET", path, nil) }

// post sends form with the session's anti-forgery token.
func (b *browser) post(path string, form url.Values) answer {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	return b.do("POST", path, form)
}

// mustGet gets path and checks the status.
func (b *browser) mustGet(path string, want int) answer {
	b.e.t.Helper()
	a := b.get(path)
	if a.status != want {
		b.e.t.Fatalf("GET %s: %d, want %d: %.600s", path, a.status, want, a.body)
	}
	return a
}

// login logs in with token and returns the browser, its session open.
func (e *env) login(token string) *browser {
	e.t.Helper()
	b := e.browser()
	b.mustGet("/console/login", http.StatusOK)
	a := b.post("/console/login", url.Values{"token": {token}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/" {
		e.t.Fatalf("login: %d %s: %.400s", a.status, a.header.Get("Location"), a.body)
	}
	b.mustGet("/console/host", http.StatusOK) // picks up the session's csrf
	return b
}

// fakeClock is a settable clock for session expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// secretField finds a token shown once on a page.
var secretField = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)
