package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// pathParam matches a {name} segment of a route pattern.
var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// fill replaces a pattern's {name} segments with vals (or the name).
func fill(pattern string, vals map[string]string) string {
	p := strings.TrimSuffix(pattern, "{$}")
	return pathParam.ReplaceAllStringFunc(p, func(seg string) string {
		n := seg[1 : len(seg)-1]
		if v, ok := vals[n]; ok {
			return v
		}
		return n
	})
}

// TestEveryPostRefusesAForgedForm: every state-changing route of the
// table, without the session's anti-forgery token or with a wrong one,
// is refused with 403 before it does anything.
func TestEveryPostRefusesAForgedForm(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	id := e.launch(who)
	b := e.login(tok)
	vals := map[string]string{"id": id, "action": "terminate", "name": "web"}
	n := 0
	for _, rt := range e.s.routes {
		if rt.method != http.MethodPost || rt.access == public {
			continue
		}
		n++
		path := fill(rt.pattern, vals)
		for _, csrf := range []string{"", "wrong", b.csrf[:len(b.csrf)-1] + "x"} {
			form := url.Values{"csrf": {csrf}, "name": {"forged"}, "cidr": {"10.1.0.0/24"}}
			a := b.do("POST", path, form)
			if a.status != http.StatusForbidden || !strings.Contains(a.body, "anti-forgery") {
				t.Errorf("POST %s with csrf %q: %d, want 403: %.300s", path, csrf, a.status, a.body)
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d POST routes checked", n)
	}
	if in, err := e.orch.Instance(id, who); err != nil || in.State != lifecycle.Running {
		t.Fatalf("a forged terminate changed the instance: %+v, %v", in, err)
	}
	if ns, _ := e.dom.Networks(who); len(ns) != 0 {
		t.Fatalf("a forged form created %v", ns)
	}
	if a := b.post("/console/logout", nil); a.status != http.StatusSeeOther {
		t.Fatalf("logout with the right token: %d", a.status)
	}
}

// TestCrossSitePostRefused: a POST the browser marks cross-site is
// refused even with a valid token (CrossOriginProtection).
func TestCrossSitePostRefused(t *testing.T) {
	e := newEnv(t)
	b := e.login(e.admin)
	req, err := http.NewRequest("POST", e.srv.URL+"/console/tenants", strings.NewReader(url.Values{"csrf": {b.csrf}, "name": {"evil"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	if ts, _ := e.auth.Tenants(); len(ts) != 0 {
		t.Fatalf("cross-site POST created %v", ts)
	}
}
