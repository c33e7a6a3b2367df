package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
)

// The cookies. The __Host- prefix makes the browser insist on Secure,
// Path=/ and no Domain, so no other host or plain-HTTP page can set them.
const (
	sessionCookie = "__Host-ironvisor-session"
	// loginCookie carries the login form's anti-forgery token, so that
	// another site cannot log a browser in to its own tenant.
	loginCookie = "__Host-ironvisor-login"
	loginTTL    = 15 * time.Minute
)

// setCookie sets a session-scoped cookie with every protection on.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// clearCookie tells the browser to forget a cookie.
func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// loginPage is the login form's data.
type loginPage struct {
	CSRF  string
	Error string
}

func (s *Server) getLogin(w http.ResponseWriter, r *http.Request, _ *call) {
	if _, ok := s.open(r); ok {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	s.showLogin(w, r, http.StatusOK, "")
}

// showLogin renders the login form with a fresh anti-forgery token.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok, err := randomString(32)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	setCookie(w, loginCookie, tok, loginTTL)
	s.render(w, r, nil, status, "login", "Log in", loginPage{CSRF: tok, Error: msg})
}

// postLogin checks the form's anti-forgery token against its cookie and
// the API token against the store, then opens a session with a fresh ID
// (never one the browser brought), ending the browser's previous one.
func (s *Server) postLogin(w http.ResponseWriter, r *http.Request, _ *call) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(r.PostForm.Get("csrf"), ck.Value) {
		s.showLogin(w, r, http.StatusForbidden, "The login form expired or did not come from this console. Try again.")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if _, err := s.cfg.Auth.Authenticate("Bearer " + tok); err != nil {
		s.showLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	id, err := s.sessions.create(tok)
	if err != nil {
		s.showLogin(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(old.Value) // a new login replaces the browser's session
	}
	clearCookie(w, loginCookie)
	setCookie(w, sessionCookie, id, MaxLifetime)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// postLogout ends the session on the server and in the browser.
func (s *Server) postLogout(w http.ResponseWriter, r *http.Request, c *call) {
	s.sessions.end(c.sid)
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// index sends a logged-in browser to the instances.
func (s *Server) index(w http.ResponseWriter, r *http.Request, c *call) {
	http.Redirect(w, r, Prefix+"instances", http.StatusSeeOther)
}

// principalName names who is logged in, for the page header.
func (s *Server) principalName(who auth.Principal) string {
	if who.Admin {
		return "admin"
	}
	if t, err := s.cfg.Auth.Tenant(who.TenantID); err == nil {
		return t.Name
	}
	return who.TenantID
}
