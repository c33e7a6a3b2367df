package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// TestTenantCannotSeeOrActOnAnothersInstance: every page and form about
// another tenant's instance answers 404 with the very page an absent
// instance gets, and changes nothing.
func TestTenantCannotSeeOrActOnAnothersInstance(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.tenant("alice")
	_, bobTok := e.tenant("bob")
	theirs := e.launch(alice)
	const absent = "i-00000000000000000"
	bob := e.login(bobTok)
	for _, suffix := range []string{"", "/output", "/stop", "/terminate", "/resize"} {
		got := bob.get("/console/instances/" + theirs + suffix)
		none := bob.get("/console/instances/" + absent + suffix)
		if got.status != http.StatusNotFound || none.status != http.StatusNotFound {
			t.Errorf("GET %s: %d (absent: %d), want 404", suffix, got.status, none.status)
		}
		if strings.ReplaceAll(got.body, theirs, "ID") != strings.ReplaceAll(none.body, absent, "ID") {
			t.Errorf("GET %s: another tenant's instance reads differently from an absent one", suffix)
		}
	}
	for _, action := range []string{"stop", "terminate", "reboot"} {
		got := bob.post("/console/instances/"+theirs+"/"+action, nil)
		none := bob.post("/console/instances/"+absent+"/"+action, nil)
		if got.status != http.StatusNotFound || strings.ReplaceAll(got.body, theirs, "ID") != strings.ReplaceAll(none.body, absent, "ID") {
			t.Errorf("POST %s: %d, want the absent instance's 404", action, got.status)
		}
	}
	if in, _ := e.orch.Instance(theirs, alice); in.State != lifecycle.Running {
		t.Fatalf("bob changed alice's instance: %s", in.State)
	}
	if list := bob.mustGet("/console/instances", http.StatusOK); strings.Contains(list.body, theirs) {
		t.Fatal("bob's instance list shows alice's instance")
	}
	admin := e.login(e.admin)
	if a := admin.mustGet("/console/instances", http.StatusOK); !strings.Contains(a.body, theirs) || !strings.Contains(a.body, "alice") {
		t.Fatal("the admin's list lacks alice's instance or her name")
	}
	admin.mustGet("/console/instances/"+theirs, http.StatusOK)
}

// TestTenantSeesOnlyItsOwnTenant: a tenant's page is its own; another
// tenant's is a 404, the admin's tenant list and forms are refused.
func TestTenantSeesOnlyItsOwnTenant(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.tenant("alice")
	bob, bobTok := e.tenant("bob")
	b := e.login(bobTok)
	if a := b.get("/console/tenants"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/tenants/"+bob.TenantID {
		t.Fatalf("tenant list for a tenant: %d %s", a.status, a.header.Get("Location"))
	}
	b.mustGet("/console/tenants/"+bob.TenantID, http.StatusOK)
	b.mustGet("/console/tenants/"+alice.TenantID, http.StatusNotFound)
	if a := b.post("/console/tenants/"+alice.TenantID+"/tokens", nil); a.status != http.StatusNotFound {
		t.Fatalf("issuing alice a token as bob: %d", a.status)
	}
	if a := b.post("/console/tenants", url.Values{"name": {"mallory"}}); a.status != http.StatusForbidden {
		t.Fatalf("creating a tenant as bob: %d", a.status)
	}
	if toks, _ := e.auth.ListTokens(alice.TenantID); len(toks) != 1 {
		t.Fatalf("alice has %d tokens", len(toks))
	}
}

// TestAdminCreatesTenantsAndTokens: the token shown once on creation
// logs in as the new tenant, and a token issued later does too.
func TestAdminCreatesTenantsAndTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.login(e.admin)
	a := admin.post("/console/tenants", url.Values{"name": {"acme"}})
	m := secretField.FindStringSubmatch(a.body)
	if a.status != http.StatusCreated || m == nil {
		t.Fatalf("create tenant: %d: %.500s", a.status, a.body)
	}
	tenant := e.login(m[1])
	if a := tenant.mustGet("/console/instances", http.StatusOK); !strings.Contains(a.body, "tenant <strong>acme</strong>") {
		t.Fatal("the new tenant's session does not name it")
	}
	ts, _ := e.auth.Tenants()
	a = admin.post("/console/tenants/"+ts[0].ID+"/tokens", nil)
	m = secretField.FindStringSubmatch(a.body)
	if a.status != http.StatusCreated || m == nil {
		t.Fatalf("issue token: %d", a.status)
	}
	e.login(m[1])
}
