package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// The errors the console makes itself; the rest are the core's.
var (
	errForbidden = apiv1.Forbidden
	errNotFound  = apiv1.NotFound
)

// badForm returns an InvalidParameter error about a form.
func badForm(format string, a ...any) error {
	return fmt.Errorf("%w: %s", apiv1.InvalidParameter, fmt.Sprintf(format, a...))
}

// frame is what the layout needs besides the page's own data.
type frame struct {
	Title string
	// Nav is the page's section, to mark it in the navigation.
	Nav   string
	Who   auth.Principal
	Name  string // who is logged in, by name
	CSRF  string
	Flash string
	// Data is the page's own.
	Data any
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"bytes": types.FormatBytes,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join":     strings.Join,
	"duration": duration,
	"ms":       func(v float64) string { return fmt.Sprintf("%.0f ms", v) },
	"navItems": func() []navItem { return nav },
	"u64":      func(n int) uint64 { return uint64(max(n, 0)) },
	"u64b":     func(n int64) uint64 { return uint64(max(n, 0)) },
	"sub":      func(a, b int) int { return b - a },
	"hours":    hours,
	"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
}

// sections maps pages to the navigation entry they belong to.
var sections = map[string]string{"instance": "instances", "launch": "instances", "confirm": "instances",
	"group": "groups", "tenant": "tenants"}

// navItem is one entry of the navigation.
type navItem struct{ Path, Page, Label string }

// nav is the navigation, in order; Page is the template that marks it.
var nav = []navItem{
	{"host", "host", "Host"},
	{"instances", "instances", "Instances"},
	{"networks", "networks", "Networks"},
	{"security-groups", "groups", "Security groups"},
	{"port-forwards", "forwards", "Port forwards"},
	{"public-ips", "publicips", "Public IPs"},
	{"images", "images", "Images"},
	{"key-pairs", "keypairs", "Key pairs"},
	{"usage", "usage", "Usage"},
}

// hours renders seconds as hours, to the minute below ten hours.
func hours(sec float64) string {
	if sec < 36000 {
		return fmt.Sprintf("%.2f", sec/3600)
	}
	return fmt.Sprintf("%.1f", sec/3600)
}

// duration renders seconds as "3d 4h 5m" (or "42s" under a minute).
func duration(sec float64) string {
	d := time.Duration(sec) * time.Second
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(sec))
	}
	days := int(d / (24 * time.Hour))
	h := int(d/time.Hour) % 24
	m := int(d/time.Minute) % 60
	if days > 0 {
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	}
	if h > 0 {
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

// parsePages parses every page template, each with the layout.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if path.Base(n) == "layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console page %s: %w", n, err)
		}
		pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return pages, nil
}

// render writes page name with data in the layout; c is nil when nobody
// is logged in.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c *call, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "console: no page "+name, http.StatusInternalServerError)
		return
	}
	f := frame{Title: title, Nav: name, Data: data}
	if sec, ok := sections[name]; ok {
		f.Nav = sec
	}
	if c != nil {
		f.Who, f.Name, f.CSRF, f.Flash = c.who, s.principalName(c.who), c.sess.csrf, s.sessions.takeFlash(c.sid)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", f); err != nil {
		http.Error(w, "console: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the error page's data.
type errorPage struct {
	Status  int
	Code    apiv1.Code
	Message string
}

// fail renders err with the status of its kind (apiv1.CodeOf), as the
// API answers it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	code := apiv1.CodeOf(err)
	s.render(w, r, c, code.Status(), "error", http.StatusText(code.Status()),
		errorPage{Status: code.Status(), Code: code, Message: err.Error()})
}

// done ends a successful form: msg is shown on the next page, to which
// the browser is sent (Post/Redirect/Get, so a reload sends nothing
// again).
func (s *Server) done(w http.ResponseWriter, r *http.Request, c *call, to, msg string) {
	s.sessions.setFlash(c.sid, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// notFound returns the NotFound error naming what and key.
func notFound(what, key string) error { return fmt.Errorf("%s %q: %w", what, key, errNotFound) }

// RefuseStranger answers a request that ratelimit.Strangers refused
// (its client address failed to log in too often) with an error page
// and Retry-After.
func (s *Server) RefuseStranger(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	ratelimit.SetRetryAfter(w, wait)
	s.fail(w, r, nil, fmt.Errorf("%w: too many failed logins from this address; try again later", apiv1.RequestLimitExceeded))
}
