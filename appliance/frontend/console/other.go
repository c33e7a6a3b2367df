package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/metering"
)

// Key pairs, usage, and tenants with their tokens.

func (s *Server) listKeyPairs(w http.ResponseWriter, r *http.Request, c *call) {
	ks, err := s.cfg.Domain.KeyPairs(c.who)
	list(s, w, r, c, "keypairs", "Key pairs", ks, err, false)
}

func (s *Server) importKeyPair(w http.ResponseWriter, r *http.Request, c *call) {
	n, err := name(r.PostForm, "name", false)
	var k domain.KeyPair
	if err == nil {
		k, err = domain.ParseKeyPair(n, strings.TrimSpace(r.PostForm.Get("public_key")))
	}
	if err == nil {
		k, err = s.cfg.Domain.ImportKeyPair(c.who, k)
	}
	s.finish(w, r, c, err, Prefix+"key-pairs", "Key pair "+k.Name+" imported ("+k.Fingerprint+").")
}

func (s *Server) deleteKeyPair(w http.ResponseWriter, r *http.Request, c *call) {
	n := r.PathValue("name")
	s.finish(w, r, c, s.cfg.Domain.DeleteKeyPair(c.who, n), Prefix+"key-pairs", "Key pair "+n+" deleted.")
}

// usagePage is the usage report with its chart.
type usagePage struct {
	Report  metering.Report
	Chart   chart
	Days    timeChart
	From    string
	To      string
	Tenants map[string]string
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	from, to, err := metering.ParseWindow(q.Get("from"), q.Get("to"), s.cfg.Now())
	if err != nil {
		s.fail(w, r, c, badForm("%v", err))
		return
	}
	rep, err := s.cfg.Meter.Usage(from, to, c.who.TenantID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := usagePage{Report: rep, Chart: hoursByType(rep), From: q.Get("from"), To: q.Get("to"), Tenants: s.tenantNames(c)}
	if p.Days, err = s.lastDays(c); err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, http.StatusOK, "usage", "Usage", p)
}

// lastDays reads the caller's running time per type for each of the
// last chartDays days (UTC), today so far included.
func (s *Server) lastDays(c *call) (timeChart, error) {
	now := s.cfg.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	days := make([]dayUsage, 0, chartDays)
	for i := chartDays - 1; i >= 0; i-- {
		from := today.AddDate(0, 0, -i)
		to := from.AddDate(0, 0, 1)
		if to.After(now) && now.After(from) {
			to = now
		}
		rep, err := s.cfg.Meter.Usage(from, to, c.who.TenantID)
		if err != nil {
			return timeChart{}, err
		}
		days = append(days, dayUsageOf(from, rep))
	}
	return hoursOverTime(days), nil
}

// tenantsPage lists tenants (the admin's page).
type tenantsPage struct {
	Tenants []auth.Tenant
	// Created is the tenant just created with its token, shown once.
	Created *auth.Tenant
	Token   string
}

// listTenants shows the admin every tenant; a tenant goes to its own page.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, c *call) {
	if !c.who.Admin {
		http.Redirect(w, r, Prefix+"tenants/"+c.who.TenantID, http.StatusSeeOther)
		return
	}
	ts, err := s.cfg.Auth.Tenants()
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, http.StatusOK, "tenants", "Tenants", tenantsPage{Tenants: ts})
}

// createTenant shows the new tenant's token on the answer itself, once,
// rather than keeping it for a redirect.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, c *call) {
	n, err := name(r.PostForm, "name", false)
	var t auth.Tenant
	var tok string
	if err == nil {
		t, tok, err = s.cfg.Auth.CreateTenant(n)
	}
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	ts, err := s.cfg.Auth.Tenants()
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, http.StatusCreated, "tenants", "Tenants", tenantsPage{Tenants: ts, Created: &t, Token: tok})
}

// tenantPage is a tenant with its tokens.
type tenantPage struct {
	Tenant auth.Tenant
	Tokens []auth.Token
	// Issued is a token just issued, shown once.
	Issued string
	// Current is the ID of the token this session logged in with.
	Current string
}

// tenant returns tenant id if who may see it, else NotFound, as package
// rest answers it.
func (s *Server) tenant(id string, who auth.Principal) (auth.Tenant, error) {
	t, err := s.cfg.Auth.Tenant(id)
	if err != nil || !who.CanAccess(id) {
		return auth.Tenant{}, notFound("tenant", id)
	}
	return t, nil
}

// showTenant renders tenant id's page with issued shown once.
func (s *Server) showTenant(w http.ResponseWriter, r *http.Request, c *call, status int, issued string) {
	t, err := s.tenant(r.PathValue("id"), c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	toks, err := s.cfg.Auth.ListTokens(t.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	slices.Reverse(toks)
	s.render(w, r, c, status, "tenant", "Tenant "+t.Name, tenantPage{Tenant: t, Tokens: toks, Issued: issued, Current: c.who.TokenID})
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, c *call) {
	s.showTenant(w, r, c, http.StatusOK, "")
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, c *call) {
	t, err := s.tenant(r.PathValue("id"), c.who)
	var tok string
	if err == nil {
		tok, _, err = s.cfg.Auth.IssueToken(t.ID)
	}
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.showTenant(w, r, c, http.StatusCreated, tok)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) {
	t, err := s.tenant(r.PathValue("id"), c.who)
	tok := r.PathValue("token")
	if err == nil {
		err = s.cfg.Auth.RevokeToken(t.ID, tok)
	}
	s.finish(w, r, c, err, Prefix+"tenants/"+t.ID, "Token "+tok+" revoked; its sessions end with it.")
}
