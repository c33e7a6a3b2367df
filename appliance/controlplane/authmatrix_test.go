package controlplane

import (
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/netcfg"
)

// fill replaces the {params} of a pattern from vals.
func fill(pattern string, vals map[string]string) string {
	for k, v := range vals {
		pattern = strings.ReplaceAll(pattern, "{"+k+"}", v)
	}
	return pattern
}

// TestAuthMatrix: every route without a token is 401; every route on a
// tenant-owned object with another tenant's token is 404.
func TestAuthMatrix(t *testing.T) {
	// Twice as many failed authentications as routes, from one address:
	// the limit of strangers (TestStrangers) would refuse most of them.
	e := newEnv(t, nil, func(c *Config) { c.StrangerRate = -1 })
	aID, aTok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	var insts []apiv1.Instance
	e.must(201, "POST", "/v1/instances", aTok, map[string]any{"image": "tiny", "type": "nano"}, &insts)
	e.must(201, "POST", "/v1/networks", aTok, map[string]any{"name": "anet", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", aTok, `{"name":"asg"}`, nil)
	var ti apiv1.TokenIssued
	e.must(201, "POST", "/v1/tenants/"+aID+"/tokens", aTok, nil, &ti)
	var netInsts []apiv1.Instance
	e.must(201, "POST", "/v1/instances", aTok, map[string]any{"image": "tiny", "type": "nano", "network": "anet", "security_groups": []string{"asg"}}, &netInsts)
	e.must(201, "POST", "/v1/key-pairs", aTok, map[string]any{"name": "akey", "public_key": aliceKey}, nil)
	var pip apiv1.PublicIP
	e.must(201, "POST", "/v1/public-ips", aTok, map[string]any{"instance": netInsts[0].ID}, &pip)
	var ak apiv1.AccessKeyCreated
	e.must(201, "POST", "/v1/access-keys", aTok, nil, &ak)
	var pf apiv1.PortForward
	e.must(201, "POST", "/v1/port-forwards", aTok, map[string]any{"instance": netInsts[0].ID, "proto": "tcp", "public_port": 2222, "port": 22}, &pf)

	routes := apiv1.Routes()
	for _, r := range routes {
		path := fill(r.Pattern, map[string]string{"id": "x", "name": "x", "token_id": "x", "address": "x"})
		if code, out := e.do(r.Method, path, "", nil); code != 401 {
			t.Errorf("%s %s without token: %d %s", r.Method, path, code, out)
		}
		if code, _ := e.do(r.Method, path, "ivt_garbage", nil); code != 401 {
			t.Errorf("%s %s with a bad token: %d", r.Method, path, code)
		}
	}
	objects := 0
	for _, r := range routes {
		if r.Object == "" {
			continue
		}
		objects++
		vals := map[string]string{"token_id": ti.ID}
		switch {
		case strings.HasPrefix(r.Pattern, "/v1/tenants/"):
			vals["id"] = aID
		case strings.HasPrefix(r.Pattern, "/v1/instances/"):
			vals["id"] = insts[0].ID
		case strings.HasPrefix(r.Pattern, "/v1/networks/"):
			vals["name"] = "anet"
		case strings.HasPrefix(r.Pattern, "/v1/security-groups/"):
			vals["name"] = "asg"
		case strings.HasPrefix(r.Pattern, "/v1/public-ips/"):
			vals["address"] = pip.Address.String()
		case strings.HasPrefix(r.Pattern, "/v1/key-pairs/"):
			vals["name"] = "akey"
		case strings.HasPrefix(r.Pattern, "/v1/port-forwards/"):
			vals["id"] = pf.ID
		case strings.HasPrefix(r.Pattern, "/v1/access-keys/"):
			vals["id"] = ak.ID
		default:
			t.Fatalf("object route %s has no fixture", r.Pattern)
		}
		path := fill(r.Pattern, vals)
		body := map[string]string{"PATCH": `{"type":"micro"}`, "PUT": `{"name":"asg"}`}[r.Method]
		if code, out := e.do(r.Method, path, bTok, body); code != 404 {
			t.Errorf("%s %s with another tenant's token: %d %s", r.Method, path, code, out)
		}
	}
	if objects < 14 {
		t.Fatalf("only %d object routes", objects)
	}
	// Lists show nothing of the other tenant, and nothing was changed.
	for _, p := range []string{"/v1/instances", "/v1/networks", "/v1/security-groups", "/v1/port-forwards", "/v1/key-pairs", "/v1/public-ips", "/v1/access-keys"} {
		if code, out := e.do("GET", p, bTok, nil); code != 200 || strings.TrimSpace(string(out)) != "[]" {
			t.Errorf("GET %s as bob: %d %s", p, code, out)
		}
	}
	var in apiv1.Instance
	e.must(200, "GET", "/v1/instances/"+insts[0].ID, aTok, nil, &in)
	var g netcfg.SecurityGroup
	e.must(200, "GET", "/v1/security-groups/asg", aTok, nil, &g)
	if in.State != "pending" || in.Type != "nano" || g.Tenant != aID {
		t.Fatalf("another tenant changed alice's objects: %+v %+v", in, g)
	}
	e.must(200, "GET", "/v1/tenants/"+aID+"/tokens", aTok, nil, nil)
	e.must(200, "GET", "/v1/port-forwards/"+pf.ID, aTok, nil, nil)
	var aks []apiv1.AccessKey
	e.must(200, "GET", "/v1/access-keys", aTok, nil, &aks)
	if len(aks) != 1 || aks[0].ID != ak.ID {
		t.Errorf("bob changed alice's access keys: %+v", aks)
	}
	// Bob cannot forward to alice's instance either.
	if code, out := e.do("POST", "/v1/port-forwards", bTok, map[string]any{"instance": netInsts[0].ID, "proto": "tcp", "public_port": 2223, "port": 22}); code != 404 {
		t.Errorf("bob forwards to alice's instance: %d %s", code, out)
	}
}
