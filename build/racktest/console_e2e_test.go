package racktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// consoleMarker is what the echo guest prints first on its serial port.
const consoleMarker = "CONSOLE-E2E-ECHO-READY"

// consolePages are the console's pages a tenant sees, screenshotted in
// this order after login.
var consolePages = []string{"host", "instances", "networks", "security-groups", "port-forwards",
	"public-ips", "images", "key-pairs", "usage", "tenants"}

// TestWebConsoleInRack is issue 15's end-to-end test: the appliance boots
// in a rack server (nested SVM, so its guests run on real KVM), and
// headless Chromium on this host, trusting only the appliance's pinned key,
// drives the web console as a person would: log in with a tenant's token,
// launch an instance of the echo guest from the form, see it reach running
// without a reload, type a line into its serial console and see the
// guest's answer (upper-cased, so it is the guest's and not a local echo),
// stop it, see that another tenant's instance is a 404, and log out, after
// which the session opens nothing. A screenshot of every page is kept in
// .cache/console-shots.
func TestWebConsoleInRack(t *testing.T) {
	t.Parallel()
	set := artefactsOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+10*time.Minute)
	defer cancel()
	srv := startAppliance(ctx, t, "webconsole", "ironvisor.hostname=rack-web", nil)
	admin, banner := connect(t, srv)
	imageID := uploadEcho(ctx, t, admin)
	alice := newTenant(ctx, t, admin, "alice")
	bob := newTenant(ctx, t, admin, "bob")

	spki, err := pinnedSPKI(ctx, srv.Addr(8080), banner.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	tab := browser(t, ctx, spki)
	shot := newShots(t, filepath.Join(filepath.Dir(set.Dir), "console-shots"))
	base := "https://" + srv.Addr(8080) + "/console/"
	w := &web{t: t, tab: tab, base: base, shot: shot}

	w.login(alice.Token)
	for _, p := range consolePages {
		w.open(p, 200)
		shot.take(t, tab, p)
	}
	id := w.launch(imageID)
	w.seeRunning(id)
	w.typeAndSeeEcho("hello ironvisor\r", "HELLO IRONVISOR")
	shot.take(t, tab, "instance-console")
	w.stop(id)
	// The rack server has one vCPU: Bob launches once Alice's is stopped.
	bobsID := launchVia(ctx, t, admin, bob.Token, imageID)
	// Bob's instance is a 404 to Alice, exactly as an ID that does not
	// exist; her own is a 200 (the negative twin).
	w.open("instances/"+bobsID, 404)
	shot.take(t, tab, "other-tenant-404")
	w.open("instances/i-doesnotexist00", 404)
	w.open("instances/"+id, 200)
	w.logout()
	shot.take(t, tab, "logged-out")
	// The admin's pages differ: capacity on the host page, the import
	// form on the images page, every tenant.
	w.login(banner.AdminToken)
	for _, p := range []string{"host", "instances", "images", "tenants"} {
		w.open(p, 200)
		shot.take(t, tab, "admin-"+p)
	}
	w.logout()
	t.Logf("screenshots: %d in %s", shot.n, shot.dir)
}

// web is one browser session on the console.
type web struct {
	t    *testing.T
	tab  context.Context
	base string
	shot *shots
}

// run runs actions within d or fails the test naming what.
func (w *web) run(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	if err := within(w.tab, d, actions...); err != nil {
		w.shot.take(w.t, w.tab, "failed-"+what)
		text, _ := value(w.tab, 10*time.Second, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText : ""`))
		w.t.Fatalf("%s (at %s): %v\npage: %s", what, w.location(), err, text)
	}
}

// location is the tab's URL, or what went wrong reading it.
func (w *web) location() string {
	loc, err := value(w.tab, 10*time.Second, chromedp.Location())
	if err != nil {
		return err.Error()
	}
	return loc
}

// open navigates to page (relative to /console/) and checks the HTTP
// status of the answer.
func (w *web) open(page string, status int64) {
	w.t.Helper()
	resp, err := value(w.tab, time.Minute, chromedp.NavigateResponse(w.base+page))
	if err != nil {
		w.t.Fatalf("open %s: %v", page, err)
	}
	if resp.Status != status {
		w.t.Fatalf("open %s: HTTP %d, want %d", page, resp.Status, status)
	}
}

// login logs in with token from the login page.
func (w *web) login(token string) {
	w.t.Helper()
	w.open("login", 200)
	w.shot.take(w.t, w.tab, "login")
	w.run("log in", time.Minute,
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`form[action="/console/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.who`)))
}

// launch fills in and sends the launch form for one nano instance of
// image, and returns the new instance's ID from the page it lands on.
func (w *web) launch(image string) string {
	w.t.Helper()
	w.open("instances/new", 200)
	w.run("fill in the launch form", time.Minute,
		chromedp.SetValue(chromedp.CSS("#l-image"), image),
		chromedp.SetValue(chromedp.CSS("#l-type"), "nano"))
	w.shot.take(w.t, w.tab, "launch-form")
	w.run("launch", time.Minute,
		chromedp.Click(chromedp.CSS(`form[action="/console/instances"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#instance-live`)))
	loc := w.location()
	i := strings.LastIndex(loc, "/instances/")
	if i < 0 {
		w.t.Fatalf("launch landed on %s, want an instance page", loc)
	}
	return strings.TrimSuffix(loc[i+len("/instances/"):], "#console")
}

// seeRunning waits, on the instance page the launch landed on, for the
// live part to show running, and checks that the page was not reloaded
// (a mark set on the window survives).
func (w *web) seeRunning(id string) {
	w.t.Helper()
	w.run("see "+id+" reach running without a reload", 5*time.Minute,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.e2eNoReload = true`)(ctx, t)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(`#instance-live .state-running`)))
	mark, err := value(w.tab, time.Minute, chromedp.Evaluate[bool](`window.e2eNoReload === true`))
	if err != nil || !mark {
		w.t.Fatalf("instance %s: the page was reloaded to show running", id)
	}
}

// typeAndSeeEcho waits for the guest's banner in the terminal, types line
// into it and waits for want in the terminal's screen.
func (w *web) typeAndSeeEcho(line, want string) {
	w.t.Helper()
	screen := `document.querySelector(".serial-terminal .xterm-rows")`
	has := func(s string) string {
		b, _ := json.Marshal(s)
		return fmt.Sprintf(`!!%s && %s.textContent.includes(%s)`, screen, screen, b)
	}
	if _, err := value(w.tab, 4*time.Minute, chromedp.Poll[bool](has(consoleMarker), chromedp.WithPollingTimeout(4*time.Minute))); err != nil {
		w.shot.take(w.t, w.tab, "failed-banner")
		text, _ := value(w.tab, 10*time.Second, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		w.t.Fatalf("no banner %q in the terminal: %v\npage: %s", consoleMarker, err, text)
	}
	w.run("type into the terminal", time.Minute,
		chromedp.Click(chromedp.CSS(`.serial-terminal`)),
		chromedp.Focus(chromedp.CSS(`.serial-terminal .xterm-helper-textarea`)),
		typeText(line))
	if _, err := value(w.tab, 2*time.Minute, chromedp.Poll[bool](has(want), chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		text, _ := value(w.tab, 10*time.Second, chromedp.Evaluate[string](screen+`.textContent`))
		w.t.Fatalf("the guest did not answer %q with %q: %v; terminal: %q", line, want, err, text)
	}
}

// stop stops instance id through its confirmation page, forced (the echo
// guest has no ACPI), and waits for the page to show it stopped.
func (w *web) stop(id string) {
	w.t.Helper()
	w.open("instances/"+id+"/stop", 200)
	w.shot.take(w.t, w.tab, "confirm-stop")
	w.run("stop "+id, 3*time.Minute,
		chromedp.Click(chromedp.CSS(`input[name=force]`)),
		chromedp.Click(chromedp.CSS(`form[action$="/stop"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#instance-live .state-stopped`)))
	w.shot.take(w.t, w.tab, "instance-stopped")
}

// logout logs out from the header's form and checks that the old
// session opens nothing: a page now sends the browser to the login form.
func (w *web) logout() {
	w.t.Helper()
	w.run("log out", time.Minute,
		chromedp.Click(chromedp.CSS(`form.who button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token`)))
	w.open("host", 200) // the login page, after the redirect
	w.run("after logout", time.Minute, chromedp.WaitVisible(chromedp.CSS(`#token`)))
	loc := w.location()
	if !strings.HasSuffix(loc, "/console/login") && !strings.Contains(loc, "/console/login?") {
		w.t.Fatalf("after logout /console/host landed on %s, want the login page", loc)
	}
	who, err := value(w.tab, time.Minute, chromedp.Evaluate[int](`document.querySelectorAll("form.who").length`))
	if err != nil || who != 0 {
		w.t.Fatal("after logout the page still shows a session")
	}
}

// tenantToken is a tenant made through the API.
type tenantToken struct{ ID, Token string }

// newTenant makes tenant name with the admin's API client.
func newTenant(ctx context.Context, t *testing.T, admin *rack.API, name string) tenantToken {
	t.Helper()
	var tt tenantToken
	if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": name}, &tt); err != nil {
		t.Fatal(err)
	}
	return tt
}

// uploadEcho uploads the echo guest (testutil.PVHEcho) as image "echo"
// and returns its ID.
func uploadEcho(ctx context.Context, t *testing.T, admin *rack.API) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", "echo")
	mw.WriteField("cmdline", "console=ttyS0")
	kw, _ := mw.CreateFormFile("kernel", "echo.elf")
	kw.Write(testutil.PVHEcho(consoleMarker + "\r\n"))
	mw.Close()
	out, err := admin.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var img struct{ ID string }
	if err := json.Unmarshal(out, &img); err != nil || img.ID == "" {
		t.Fatalf("image upload answered %s (%v)", out, err)
	}
	return img.ID
}

// launchVia launches one nano instance of image with token and returns
// its ID.
func launchVia(ctx context.Context, t *testing.T, admin *rack.API, token, image string) string {
	t.Helper()
	user := *admin
	user.Token = token
	var launched []instance
	err := user.SendJSON(ctx, "POST", "/v1/instances", map[string]any{"image": image, "type": "nano", "count": 1}, &launched)
	if err != nil || len(launched) != 1 {
		t.Fatalf("launch: %+v, %v", launched, err)
	}
	return launched[0].ID
}
