package console

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// hostile is a name that passes auth.ValidateName and is markup.
const hostile = `<script>alert(1)<b onmouseover=x>`

// populate gives who a network web, a group ssh, a key pair named
// hostile and a running instance of an image named hostile, and returns
// the instance's ID. (Networks and groups take only [A-Za-z0-9._-].)
func (e *env) populate(who auth.Principal) string {
	e.t.Helper()
	if _, err := e.dom.CreateNetwork(who, netcfg.Network{Name: "web", CIDR: netip.MustParsePrefix("10.7.0.0/24")}); err != nil {
		e.t.Fatal(err)
	}
	g := netcfg.SecurityGroup{Name: "ssh", Ingress: []netcfg.Rule{{Proto: netcfg.ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}
	if _, err := e.dom.CreateGroup(who, g); err != nil {
		e.t.Fatal(err)
	}
	k, err := domain.ParseKeyPair(hostile, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGPJ7bt1ZbmKr4Cqi3dEkT6uxeTxF0c8DmGNAMn8sdN5 <script>x")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.dom.ImportKeyPair(who, k); err != nil {
		e.t.Fatal(err)
	}
	e.image = e.addImage(hostile)
	return e.launch(who)
}

// TestEveryPageRendersForAdminAndTenant: every GET route of the table
// renders for the admin and for a tenant, with the security headers,
// and no name or guest output comes through as markup.
func TestEveryPageRendersForAdminAndTenant(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant(hostile)
	id := e.populate(who)
	vals := map[string]string{"id": id, "name": "ssh", "action": "stop"}
	for _, as := range []struct{ name, token string }{{"admin", e.admin}, {"tenant", tok}} {
		b := e.login(as.token)
		for _, rt := range e.s.routes {
			if rt.method != http.MethodGet || rt.access == public {
				continue
			}
			path := fill(rt.pattern, vals)
			if strings.HasPrefix(rt.pattern, Prefix+"tenants/") {
				path = Prefix + "tenants/" + who.TenantID
			}
			a := b.get(path)
			want := http.StatusOK
			if rt.pattern == Prefix+"{$}" || (rt.pattern == Prefix+"tenants" && as.name == "tenant") {
				want = http.StatusSeeOther
			}
			// Network and group names are per tenant (issue 10, finding
			// 6): the admin lists them with their tenants, and a name
			// alone names nothing for it.
			if as.name == "admin" && strings.HasPrefix(rt.pattern, Prefix+"security-groups/{") {
				want = http.StatusNotFound
			}
			if a.status != want {
				t.Errorf("%s: GET %s: %d, want %d: %.300s", as.name, path, a.status, want, a.body)
				continue
			}
			if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: GET %s: CSP %q", as.name, path, csp)
			}
			if a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: GET %s: headers %v", as.name, path, a.header)
			}
			if strings.Contains(a.body, "<script>alert") || strings.Contains(a.body, "<b onmouseover") {
				t.Errorf("%s: GET %s: a hostile name or output is served as markup", as.name, path)
			}
		}
	}
}

// TestHostileNamesShowAsText: names and guest console output appear
// escaped, as text, where they are shown.
func TestHostileNamesShowAsText(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant(hostile)
	id := e.populate(who)
	escaped := "&lt;script&gt;alert(1)&lt;b onmouseover=x&gt;"
	b := e.login(tok)
	for _, path := range []string{"/console/key-pairs", "/console/images", "/console/instances", "/console/instances/new", "/console/instances/" + id} {
		if a := b.mustGet(path, http.StatusOK); !strings.Contains(a.body, escaped) {
			t.Errorf("%s does not show the hostile name as text", path)
		}
	}
	if a := b.mustGet("/console/instances/"+id, http.StatusOK); !strings.Contains(a.body, "&lt;script&gt;alert(&#39;guest&#39;)&lt;/script&gt;") {
		t.Errorf("the guest's console output is not shown as text: %.2000s", a.body)
	}
	admin := e.login(e.admin)
	if a := admin.mustGet("/console/instances", http.StatusOK); !strings.Contains(a.body, escaped) {
		t.Error("the admin's instance list does not show the hostile tenant name as text")
	}
	if a := b.mustGet("/console/instances/"+id+"/output", http.StatusOK); !strings.Contains(a.body, `\u003cscript\u003e`) || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("console JSON: %s %s", a.header.Get("Content-Type"), a.body)
	}
}

// TestInstanceLifecycleThroughForms: launch from the form, then stop,
// resize, start, reboot and terminate, each through its confirm page.
func TestInstanceLifecycleThroughForms(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	b := e.login(tok)
	b.mustGet("/console/instances/new", http.StatusOK)
	a := b.post("/console/instances", url.Values{"image": {e.image}, "type": {"small"}, "user_data": {"#!/bin/sh\r\necho hi\r\n"}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/console/instances/i-") {
		t.Fatalf("launch: %d %s: %.500s", a.status, a.header.Get("Location"), a.body)
	}
	id := strings.TrimPrefix(a.header.Get("Location"), "/console/instances/")
	e.orch.Wait()
	if in, _ := e.orch.Instance(id, who); string(in.UserData) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("user data %q", in.UserData)
	}
	if a := b.mustGet("/console/instances/"+id, http.StatusOK); !strings.Contains(a.body, "Launched "+id) {
		t.Fatal("no flash after launch")
	}
	steps := []struct {
		action string
		form   url.Values
		want   lifecycle.State
	}{
		{"stop", nil, lifecycle.Stopped},
		{"resize", url.Values{"type": {"medium"}}, lifecycle.Stopped},
		{"start", nil, lifecycle.Running},
		{"reboot", nil, lifecycle.Running},
		{"terminate", nil, lifecycle.Terminated},
	}
	for _, s := range steps {
		page := b.mustGet("/console/instances/"+id+"/"+s.action, http.StatusOK)
		if !strings.Contains(page.body, `action="/console/instances/`+id+`/`+s.action+`"`) {
			t.Fatalf("%s: no confirm form", s.action)
		}
		if a := b.post("/console/instances/"+id+"/"+s.action, s.form); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d: %.500s", s.action, a.status, a.body)
		}
		e.orch.Wait()
		in, err := e.orch.Instance(id, who)
		if err != nil || in.State != s.want {
			t.Fatalf("after %s: %s, %v; want %s", s.action, in.State, err, s.want)
		}
		if s.action == "resize" && in.Type.Name != "medium" {
			t.Fatalf("resized to %s", in.Type.Name)
		}
	}
	if a := b.post("/console/instances/"+id+"/start", nil); a.status != http.StatusConflict {
		t.Fatalf("start of a terminated instance: %d", a.status)
	}
	if a := b.get("/console/instances/" + id + "/launch"); a.status != http.StatusBadRequest {
		t.Fatalf("an unknown action: %d", a.status)
	}
}

// TestNetworkForms: networks, groups with the rule editor, key pairs.
func TestNetworkForms(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	b := e.login(tok)
	b.mustGet("/console/networks", http.StatusOK)
	if a := b.post("/console/networks", url.Values{"name": {"web"}, "cidr": {"10.3.0.0/24"}}); a.status != http.StatusSeeOther {
		t.Fatalf("create network: %d: %.400s", a.status, a.body)
	}
	if a := b.post("/console/networks", url.Values{"name": {"bad"}, "cidr": {"10.3.0.0/33"}}); a.status != http.StatusBadRequest {
		t.Fatalf("bad CIDR: %d", a.status)
	}
	if a := b.post("/console/security-groups", url.Values{"name": {"ssh"}}); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/security-groups/ssh" {
		t.Fatalf("create group: %d %s", a.status, a.header.Get("Location"))
	}
	b.mustGet("/console/security-groups/ssh", http.StatusOK)
	rows := url.Values{
		"dir":   {"ingress", "ingress", "egress", "ingress"},
		"proto": {"tcp", "udp", "all", ""},
		"ports": {"22", "1000-2000", "", "9"},
		"peer":  {"0.0.0.0/0", "ssh", "10.0.0.0/8", "ignored"},
	}
	if a := b.post("/console/security-groups/ssh", rows); a.status != http.StatusSeeOther {
		t.Fatalf("save rules: %d: %.400s", a.status, a.body)
	}
	g, err := e.dom.Group("ssh", who)
	if err != nil || len(g.Ingress) != 2 || len(g.Egress) != 1 || g.Ingress[0].FromPort != 22 || g.Ingress[1].Group != "ssh" || g.Ingress[1].ToPort != 2000 {
		t.Fatalf("rules: %+v, %v", g, err)
	}
	page := b.mustGet("/console/security-groups/ssh", http.StatusOK)
	if !strings.Contains(page.body, `value="1000-2000"`) || !strings.Contains(page.body, `value="10.0.0.0/8"`) {
		t.Fatal("the editor does not show the saved rules")
	}
	if a := b.post("/console/security-groups/ssh", url.Values{"dir": {"ingress"}, "proto": {"tcp"}, "ports": {"70000"}, "peer": {"0.0.0.0/0"}}); a.status != http.StatusBadRequest {
		t.Fatalf("bad port: %d", a.status)
	}
	if a := b.post("/console/key-pairs", url.Values{"name": {"laptop"}, "public_key": {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGPJ7bt1ZbmKr4Cqi3dEkT6uxeTxF0c8DmGNAMn8sdN5 me@laptop"}}); a.status != http.StatusSeeOther {
		t.Fatalf("import key: %d: %.400s", a.status, a.body)
	}
	for _, path := range []string{"/console/key-pairs/laptop/delete", "/console/security-groups/ssh/delete", "/console/networks/web/delete"} {
		if a := b.post(path, nil); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d: %.400s", path, a.status, a.body)
		}
	}
	if ns, _ := e.dom.Networks(who); len(ns) != 0 {
		t.Fatalf("networks left: %v", ns)
	}
}

// TestHostAndUsagePages: the host page shows the boot timeline with its
// failed step, and capacity to the admin only; the usage page draws its
// chart on the server.
func TestHostAndUsagePages(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	e.launch(who)
	admin := e.login(e.admin)
	a := admin.mustGet("/console/host", http.StatusOK)
	for _, want := range []string{"no carrier on eth1", "192.0.2.10/24", "1 of 4 used", "Test CPU", "1d 2h 3m",
		"Update slots", "rack-3-broken", "rolled back", "not healthy within 15s", "/dev/watchdog0", "sha256 mismatch",
		"<code>/var/lib/ironvisor</code> on ext4", "volumes are full copies"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("admin's host page lacks %q", want)
		}
	}
	b := e.login(tok)
	if a := b.mustGet("/console/host", http.StatusOK); strings.Contains(a.body, "Capacity") || strings.Contains(a.body, "Update slots") || strings.Contains(a.body, "Data disk") {
		t.Error("a tenant sees the host's capacity, its update slots or its data disk")
	}
	a = b.mustGet("/console/usage", http.StatusOK)
	if !strings.Contains(a.body, "<svg") || !strings.Contains(a.body, "<rect") || !strings.Contains(a.body, ">small<") {
		t.Errorf("usage chart: %.3000s", a.body)
	}
	if !strings.Contains(a.body, "Running hours per day, last 14 days") || !strings.Contains(a.body, `<ul class="legend">`) {
		t.Errorf("usage per day: %.3000s", a.body)
	}
	if a := b.get("/console/usage?from=yesterday"); a.status != http.StatusBadRequest {
		t.Errorf("bad usage window: %d", a.status)
	}
}
