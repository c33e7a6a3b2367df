package controlplane

import (
	"bytes"
	"strings"
	"testing"
)

// TestNamesArePerTenant: tenant B may use the names tenant A chose, learns
// nothing of A's networks from a refusal, and an answer about A's network
// reads exactly like one about a network that does not exist (issue 10,
// finding 6). Names used to be unique per host: B got 409 for "web", and
// an overlapping CIDR was refused with A's name and range.
func TestNamesArePerTenant(t *testing.T) {
	e := newEnv(t, nil)
	alice, ta := e.tenant("alice")
	_, tb := e.tenant("bob")
	e.must(201, "POST", "/v1/networks", ta, map[string]any{"name": "web", "cidr": "10.1.0.0/24"}, nil)
	e.must(201, "POST", "/v1/networks", ta, map[string]any{"name": "secret", "cidr": "10.3.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", ta, `{"name":"web"}`, nil)

	e.must(201, "POST", "/v1/networks", tb, map[string]any{"name": "web", "cidr": "10.2.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tb, `{"name":"web"}`, nil)

	code, body := e.do("POST", "/v1/networks", tb, map[string]any{"name": "db", "cidr": "10.1.0.0/25"})
	if code != 400 {
		t.Fatalf("overlap with another tenant's network: %d %s", code, body)
	}
	for _, leak := range []string{"web", "10.1.0.0/24", alice, "alice"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("refusal names %q of the other tenant: %s", leak, body)
		}
	}

	codeA, bodyA := e.do("GET", "/v1/networks/secret", tb, nil)
	codeN, bodyN := e.do("GET", "/v1/networks/nosuch", tb, nil)
	if codeA != 404 || codeN != 404 || string(bodyA) != strings.ReplaceAll(string(bodyN), "nosuch", "secret") {
		t.Fatalf("another tenant's network: %d %s; a missing one: %d %s", codeA, bodyA, codeN, bodyN)
	}
	code, body = e.do("DELETE", "/v1/networks/secret", tb, nil)
	if code != 404 {
		t.Fatalf("bob deleted alice's network: %d %s", code, body)
	}

	var got map[string]any
	e.must(200, "GET", "/v1/networks/web", tb, nil, &got)
	if got["cidr"] != "10.2.0.0/24" {
		t.Fatalf("bob's web is %v", got)
	}
	e.must(204, "DELETE", "/v1/security-groups/web", ta, nil, nil)
	e.must(200, "GET", "/v1/security-groups/web", tb, nil, nil)
	e.must(204, "DELETE", "/v1/networks/web", ta, nil, nil)
	e.must(200, "GET", "/v1/networks/web", tb, nil, &got)
}
