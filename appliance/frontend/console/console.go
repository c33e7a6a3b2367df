// Package console is the appliance's web console: HTML pages under
// /console/ on the management listener, a sibling of package rest on the
// same core. Like rest it only decodes (HTML forms), authorises, calls
// the core (package domain, package orchestrator, and the auth, types,
// images and metering services) and encodes (html/template); it holds no
// logic of its own about instances, networks or tenants, and every error
// is the core's, of apiv1's taxonomy.
//
// Security, as the pages are reached from a browser that may also visit
// hostile sites:
//   - Login takes an API token and opens a server-side session: a random
//     256-bit ID in a cookie that is HttpOnly, Secure, SameSite=Strict and
//     __Host- prefixed; the table keeps the ID's hash, and the token, which
//     every request authenticates again, so revoking it ends the session.
//     Sessions end on logout, after IdleTimeout or MaxLifetime.
//   - Every state-changing request is a POST carrying the session's
//     anti-forgery token, compared in constant time; the login form has
//     its own, tied to a short-lived cookie. Go's CrossOriginProtection
//     refuses cross-site POSTs besides.
//   - Pages are html/template (contextual escaping of every name, and of
//     guest console output), served with a strict Content-Security-Policy
//     (scripts and styles only from /console/static/), no framing, no
//     caching and no referrer.
//   - Another tenant's object is a 404, the same page as one that does
//     not exist: the core answers NotFound for both.
//
// The pages work without JavaScript; static/console.js only refreshes the
// parts marked data-live and follows the serial console.
package console

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// maxForm bounds a form body: the launch form with 16 KiB of user data
// is the largest.
const maxForm = 64 << 10

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is the core the console calls, as package rest's.
type Config struct {
	// Limit is the request rate limit of each token, shared with the
	// other front ends; nil is no limit.
	Limit   *ratelimit.Limiter
	Auth    *auth.Service
	Catalog *types.Catalog
	Images  *images.Store
	Meter   *metering.Meter
	Domain  *domain.Domain
	Orch    *orchestrator.Orchestrator
	Host    api.HostSource
	// TLSFingerprint is shown on the host page; empty for plain HTTP.
	TLSFingerprint string
	// Now may be nil for time.Now.
	Now func() time.Time
}

// Server is the web console.
type Server struct {
	cfg      Config
	sessions *sessions
	pages    map[string]*template.Template
	routes   []route
	handler  http.Handler
}

// access says who may open a route.
type access int

const (
	public access = iota // no session (login, static files)
	member               // any session
	admin                // the admin's session only
)

// route is one page or form of the console.
type route struct {
	method, pattern string
	access          access
	h               handler
}

// call is a request from a logged-in browser.
type call struct {
	sid  string // the session ID, from the cookie
	sess session
	who  auth.Principal
}

// handler serves one routed request; c is nil on public routes.
type handler func(w http.ResponseWriter, r *http.Request, c *call)

// New parses the templates and binds every route.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, sessions: newSessions(cfg.Now)}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"static/", headers(files, true))
	s.routes = s.table()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, headers(s.guard(rt), false))
	}
	mux.Handle(Prefix, headers(http.HandlerFunc(s.notFound), false))
	s.handler = http.NewCrossOriginProtection().Handler(mux)
	return s, nil
}

// Handler returns the console's HTTP handler, for paths under Prefix.
func (s *Server) Handler() http.Handler { return s.handler }

// headers sets the security headers of every answer.
func headers(h http.Handler, cacheable bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if !cacheable {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// guard opens the session, authenticates its token again, checks the
// route's access and, on a POST, the anti-forgery token; then it calls
// the route's handler.
func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, nil, badForm("read form: %v", err))
				return
			}
		}
		if rt.access == public {
			rt.h(w, r, nil)
			return
		}
		c, ok := s.open(r)
		if !ok {
			clearCookie(w, sessionCookie)
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		if ok, wait := s.cfg.Limit.Allow(c.who.TokenID); !ok {
			ratelimit.Hold(r.Context())
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			s.fail(w, r, c, fmt.Errorf("%w: this token's rate is %g requests a second", apiv1.RequestLimitExceeded, s.cfg.Limit.Rate()))
			return
		}
		if r.Method == http.MethodPost && !sameSecret(csrfOf(r), c.sess.csrf) {
			s.fail(w, r, c, fmt.Errorf("%w: this form is stale or forged (its anti-forgery token does not match): reload the page and try again", errForbidden))
			return
		}
		if rt.access == admin && !c.who.Admin {
			s.fail(w, r, c, fmt.Errorf("%w: this page is for the admin", errForbidden))
			return
		}
		rt.h(w, r, c)
	}
}

// open returns the request's session with its principal, or false (no
// cookie, no such session, expired, or its token no longer valid).
func (s *Server) open(r *http.Request) (*call, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	sess, ok := s.sessions.get(ck.Value)
	if !ok {
		return nil, false
	}
	who, err := s.cfg.Auth.Authenticate("Bearer " + sess.token)
	if err != nil {
		s.sessions.end(ck.Value)
		return nil, false
	}
	return &call{sid: ck.Value, sess: sess, who: who}, true
}

// notFound answers every other path under Prefix.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	c, _ := s.open(r)
	s.fail(w, r, c, fmt.Errorf("%w: no page at %s", errNotFound, r.URL.Path))
}
