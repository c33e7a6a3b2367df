package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/ratelimit"
)

// sessionCookieOf returns the session cookie a response set.
func sessionCookieOf(t *testing.T, a answer) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie set: %v", sessionCookie, a.header["Set-Cookie"])
	return nil
}

// TestLoginSetsAProtectedCookie: the session cookie is HttpOnly, Secure,
// SameSite=Strict, host-only (__Host-, Path=/), and carries 256 random
// bits, not the token.
func TestLoginSetsAProtectedCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.mustGet("/console/login", http.StatusOK)
	a := b.post("/console/login", url.Values{"token": {e.admin}})
	c := sessionCookieOf(t, a)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("cookie flags: %+v", c)
	}
	if !strings.HasPrefix(c.Name, "__Host-") || len(c.Value) != 43 || strings.Contains(c.Value, e.admin) {
		t.Fatalf("cookie %s=%q", c.Name, c.Value)
	}
	raw := strings.Join(a.header["Set-Cookie"], "\n")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie lacks %s: %s", want, raw)
		}
	}
}

// TestLogoutEndsTheSessionOnTheServer: after logout the old cookie, sent
// again as a thief would, opens nothing.
func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.mustGet("/console/login", http.StatusOK)
	stolen := sessionCookieOf(t, b.post("/console/login", url.Values{"token": {e.admin}}))
	b.mustGet("/console/instances", http.StatusOK)
	if n := e.s.sessions.len(); n != 1 {
		t.Fatalf("%d sessions after login", n)
	}
	a := b.post("/console/logout", nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/login" {
		t.Fatalf("logout: %d %s", a.status, a.header.Get("Location"))
	}
	if n := e.s.sessions.len(); n != 0 {
		t.Fatalf("%d sessions after logout", n)
	}
	thief := e.browser()
	thief.c.Jar.SetCookies(mustURL(t, e.srv.URL), []*http.Cookie{{Name: sessionCookie, Value: stolen.Value, Path: "/", Secure: true}})
	if a := thief.get("/console/instances"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/login" {
		t.Fatalf("old cookie after logout: %d %s", a.status, a.header.Get("Location"))
	}
}

// TestLoginRefusals: a wrong token, and a login form that did not come
// from this console (no login cookie: login CSRF), open no session.
func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.mustGet("/console/login", http.StatusOK)
	if a := b.post("/console/login", url.Values{"token": {"ivt_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", a.status)
	}
	forger := e.browser() // never loaded the form: no login cookie
	if a := forger.do("POST", "/console/login", url.Values{"token": {e.admin}, "csrf": {"guess"}}); a.status != http.StatusForbidden {
		t.Fatalf("forged login: %d", a.status)
	}
	b.mustGet("/console/login", http.StatusOK)
	if a := b.post("/console/login", url.Values{"token": {e.admin}, "csrf": {"not-the-cookie"}}); a.status != http.StatusForbidden {
		t.Fatalf("login with a wrong form token: %d", a.status)
	}
	if n := e.s.sessions.len(); n != 0 {
		t.Fatalf("%d sessions opened by refused logins", n)
	}
	if a := e.browser().get("/console/host"); a.status != http.StatusSeeOther {
		t.Fatalf("page without a session: %d", a.status)
	}
}

// TestRevokedTokenEndsItsSessions: revoking the token a session logged
// in with ends the session at its next request.
func TestRevokedTokenEndsItsSessions(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	b := e.login(tok)
	b.mustGet("/console/instances", http.StatusOK)
	if err := e.auth.RevokeToken(who.TenantID, who.TokenID); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/console/instances"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/login" {
		t.Fatalf("after revocation: %d %s", a.status, a.header.Get("Location"))
	}
	if n := e.s.sessions.len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// TestSessionsExpire: idle for IdleTimeout, or MaxLifetime after login,
// a session is gone; in between, use keeps it alive.
func TestSessionsExpire(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	ss := newSessions(clk.now)
	idle, err := ss.create("tok")
	if err != nil {
		t.Fatal(err)
	}
	busy, _ := ss.create("tok")
	for i := 0; i < 3; i++ {
		clk.add(IdleTimeout / 2)
		if _, ok := ss.get(busy); !ok {
			t.Fatalf("busy session ended after %d uses", i)
		}
	}
	if _, ok := ss.get(idle); ok {
		t.Fatal("idle session outlived IdleTimeout")
	}
	for clk.add(IdleTimeout / 2); clk.now().Sub(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) < MaxLifetime; clk.add(IdleTimeout / 2) {
		if _, ok := ss.get(busy); !ok {
			t.Fatal("busy session ended before MaxLifetime")
		}
	}
	if _, ok := ss.get(busy); ok {
		t.Fatal("session outlived MaxLifetime")
	}
	if _, ok := ss.get(""); ok {
		t.Fatal("empty session ID opened a session")
	}
}

// TestLoginReplacesTheSession: logging in again in the same browser (as
// another principal, say) ends the old session rather than leaving it
// open beside the new one, and the new ID is fresh.
func TestLoginReplacesTheSession(t *testing.T) {
	e := newEnv(t)
	_, tok := e.tenant("acme")
	b := e.browser()
	b.mustGet("/console/login", http.StatusOK)
	first := sessionCookieOf(t, b.post("/console/login", url.Values{"token": {e.admin}}))
	b.mustGet("/console/login", http.StatusSeeOther) // logged in: the form sends it on
	b.c.Jar.SetCookies(mustURL(t, e.srv.URL), []*http.Cookie{{Name: loginCookie, Value: "x", Path: "/", Secure: true}})
	a := b.do("POST", "/console/login", url.Values{"token": {tok}, "csrf": {"x"}})
	second := sessionCookieOf(t, a)
	if second.Value == first.Value || e.s.sessions.len() != 1 {
		t.Fatalf("second login: same ID %v, %d sessions", second.Value == first.Value, e.s.sessions.len())
	}
	if p := b.mustGet("/console/instances", http.StatusOK); !strings.Contains(p.body, "tenant <strong>acme</strong>") {
		t.Fatal("the second login's session is not the tenant's")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsoleSharesTheRateLimit: the console's pages count against the
// token's request rate like the API's calls (one ratelimit.Limiter for
// every front end), so a tenant cannot flood through the console what the
// API refuses; another tenant is still served.
func TestConsoleSharesTheRateLimit(t *testing.T) {
	e := newEnv(t)
	_, ta := e.tenant("alice")
	_, tb := e.tenant("bob")
	a, b := e.login(ta), e.login(tb)
	e.s.cfg.Limit = ratelimit.New(0.5, 2, time.Now)
	for i := 0; i < 2; i++ {
		if got := a.get(Prefix + "instances"); got.status != http.StatusOK {
			t.Fatalf("request %d of the burst: %d", i, got.status)
		}
	}
	got := a.get(Prefix + "instances")
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" {
		t.Fatalf("past the burst: %d, Retry-After %q", got.status, got.header.Get("Retry-After"))
	}
	if got := b.get(Prefix + "instances"); got.status != http.StatusOK {
		t.Fatalf("another tenant: %d", got.status)
	}
}
