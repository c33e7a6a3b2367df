package controlplane

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

func TestTenantsAndTokens(t *testing.T) {
	e := newEnv(t, nil)
	id, tok := e.tenant("acme")
	if len(tok) != auth.TokenLen {
		t.Fatalf("token %q", tok)
	}
	e.must(409, "POST", "/v1/tenants", e.admin, map[string]string{"name": "acme"}, nil)
	e.must(400, "POST", "/v1/tenants", e.admin, map[string]string{"name": "../x"}, nil)
	e.must(400, "POST", "/v1/tenants", e.admin, `{"name":"a","extra":1}`, nil)
	e.must(403, "POST", "/v1/tenants", tok, map[string]string{"name": "other"}, nil)
	var ts []auth.Tenant
	e.must(200, "GET", "/v1/tenants", e.admin, nil, &ts)
	if len(ts) != 1 || ts[0].ID != id {
		t.Fatalf("tenants %+v", ts)
	}
	var ti apiv1.TokenIssued
	e.must(201, "POST", "/v1/tenants/"+id+"/tokens", tok, nil, &ti)
	var toks []auth.Token
	e.must(200, "GET", "/v1/tenants/"+id+"/tokens", ti.Token, nil, &toks)
	if len(toks) != 2 {
		t.Fatalf("tokens %+v", toks)
	}
	e.must(204, "DELETE", "/v1/tenants/"+id+"/tokens/"+ti.ID, e.admin, nil, nil)
	e.must(401, "GET", "/v1/instances", ti.Token, nil, nil)
	e.must(404, "DELETE", "/v1/tenants/"+id+"/tokens/"+ti.ID, tok, nil, nil)
}

func TestTypesAndHost(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("acme")
	var ts []types.Type
	e.must(200, "GET", "/v1/instance-types", tok, nil, &ts)
	if len(ts) == 0 || ts[0].Name != "nano" {
		t.Fatalf("types %+v", ts)
	}
	e.must(403, "POST", "/v1/instance-types", tok, `{"name":"tiny","vcpus":1,"mem_mib":32}`, nil)
	e.must(201, "POST", "/v1/instance-types", e.admin, `{"name":"tiny","vcpus":1,"mem_mib":32}`, nil)
	e.must(400, "POST", "/v1/instance-types", e.admin, `{"name":"neg","vcpus":-1,"mem_mib":32}`, nil)
	var h map[string]any
	e.must(200, "GET", "/v1/host", tok, nil, &h)
	if h["tls_fingerprint"] != "ab:cd" || h["version"] != "test" {
		t.Fatalf("host %v", h)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("acme")
	if code, out := e.upload("broken", []byte("definitely not a kernel")); code != 400 || !strings.Contains(string(out), "neither a bzImage nor a PVH ELF") {
		t.Fatalf("broken upload: %d %s", code, out)
	}
	if code, _ := e.upload("../evil", []byte("x")); code != 400 {
		t.Fatalf("bad name: %d", code)
	}
	if left := e.imageDirs(); len(left) != 0 {
		t.Fatalf("refused uploads left %v", left)
	}
	e.tinyImage("tiny")
	var imgs []images.Image
	e.must(200, "GET", "/v1/images", tok, nil, &imgs)
	if len(imgs) != 1 || imgs[0].Name != "tiny" || imgs[0].KernelFormat != "pvh" || imgs[0].Initrd == nil {
		t.Fatalf("images %+v", imgs)
	}
	e.must(200, "GET", "/v1/images/tiny", tok, nil, nil)
	e.must(403, "DELETE", "/v1/images/tiny", tok, nil, nil)
	e.must(204, "DELETE", "/v1/images/"+imgs[0].ID, e.admin, nil, nil)
	e.must(404, "GET", "/v1/images/tiny", tok, nil, nil)
}

func TestInstanceLifecycleWithoutHypervisor(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("acme")
	e.tinyImage("tiny")
	var got []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "count": 2, "user_data": []byte("#!/bin/sh")}, &got)
	if len(got) != 2 || got[0].State != "pending" || got[0].Reason != orchestrator.NoHypervisor || got[0].Type != "nano" {
		t.Fatalf("launch %+v", got)
	}
	id := got[0].ID
	e.must(400, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "count": -1}, nil)
	e.must(400, "POST", "/v1/instances", tok, map[string]any{"image": "nope", "type": "nano"}, nil)
	e.must(400, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "user_data": make([]byte, 16<<10+1)}, nil)
	code, out := e.do("POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "64xlarge"})
	if code != 409 || !strings.Contains(string(out), "InsufficientCapacity") {
		t.Fatalf("over capacity: %d %s", code, out)
	}
	var list []apiv1.Instance
	e.must(200, "GET", "/v1/instances", tok, nil, &list)
	if len(list) != 2 {
		t.Fatalf("list %+v", list)
	}
	code, out = e.do("PATCH", "/v1/instances/"+id, tok, map[string]string{"type": "micro"})
	if code != 409 || !strings.Contains(string(out), "stopped") {
		t.Fatalf("patch while pending: %d %s", code, out)
	}
	var in apiv1.Instance
	e.must(200, "POST", "/v1/instances/"+id+"/stop", tok, `{"force":true}`, &in)
	if in.State != "stopped" {
		t.Fatalf("stop: %+v", in)
	}
	e.must(200, "PATCH", "/v1/instances/"+id, tok, map[string]string{"type": "micro"}, &in)
	if in.Type != "micro" {
		t.Fatalf("resize: %+v", in)
	}
	e.must(400, "PATCH", "/v1/instances/"+id, tok, `{"type":"micro","vcpus":3}`, nil)
	e.must(200, "POST", "/v1/instances/"+id+"/start", tok, nil, &in)
	if in.State != "pending" || in.Reason != orchestrator.NoHypervisor {
		t.Fatalf("start: %+v", in)
	}
	e.must(409, "POST", "/v1/instances/"+id+"/reboot", tok, nil, nil)
	var con apiv1.ConsoleOutput
	e.must(200, "GET", "/v1/instances/"+id+"/console", tok, nil, &con)
	if con.Available {
		t.Fatalf("console without a VMM: %+v", con)
	}
	e.must(400, "GET", "/v1/instances/"+id+"/console?offset=-1", tok, nil, nil)
	e.must(200, "DELETE", "/v1/instances/"+id, tok, nil, &in)
	if in.State != "terminated" {
		t.Fatalf("terminate: %+v", in)
	}
	e.must(200, "GET", "/v1/instances/"+id, tok, nil, &in)
	if in.State != "terminated" {
		t.Fatalf("terminated instance not visible: %+v", in)
	}
}

func TestNetworksAndGroups(t *testing.T) {
	var hooked []netcfg.State
	e := newEnv(t, nil, func(c *Config) {
		c.OnNetworkChange = func(_ string, st netcfg.State) error { hooked = append(hooked, st); return nil }
	})
	_, tok := e.tenant("acme")
	var n netcfg.Network
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.1.0.0/24"}, &n)
	if n.Index != 1 || n.Tenant == "" {
		t.Fatalf("network %+v", n)
	}
	e.must(400, "POST", "/v1/networks", tok, map[string]any{"name": "db", "cidr": "10.1.0.0/25"}, nil) // overlaps
	e.must(400, "POST", "/v1/networks", tok, map[string]any{"name": "a/b", "cidr": "10.2.0.0/24"}, nil)
	e.must(409, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.3.0.0/24"}, nil)
	var nets []netcfg.Network
	e.must(200, "GET", "/v1/networks", tok, nil, &nets)
	if len(nets) != 1 {
		t.Fatalf("networks %+v", nets)
	}
	sg := `{"name":"ssh","ingress":[{"proto":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"}]}`
	e.must(201, "POST", "/v1/security-groups", tok, sg, nil)
	e.must(400, "POST", "/v1/security-groups", tok, `{"name":"bad","ingress":[{"proto":"tcp","from_port":30,"to_port":22,"cidr":"0.0.0.0/0"}]}`, nil)
	e.must(200, "PUT", "/v1/security-groups/ssh", tok, `{"name":"ssh","ingress":[]}`, nil)
	var g netcfg.SecurityGroup
	e.must(200, "GET", "/v1/security-groups/ssh", tok, nil, &g)
	if len(g.Ingress) != 0 {
		t.Fatalf("group %+v", g)
	}
	e.tinyImage("tiny")
	var got []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"ssh"}}, &got)
	e.must(409, "DELETE", "/v1/networks/web", tok, nil, nil)
	e.must(409, "DELETE", "/v1/security-groups/ssh", tok, nil, nil)
	e.must(200, "DELETE", "/v1/instances/"+got[0].ID, tok, nil, nil)
	e.must(204, "DELETE", "/v1/security-groups/ssh", tok, nil, nil)
	e.must(204, "DELETE", "/v1/networks/web", tok, nil, nil)
	if len(hooked) != 5 || len(hooked[4].Networks) != 0 {
		t.Fatalf("hook calls %d: %+v", len(hooked), hooked)
	}
}

func TestUsageMetricsOpenAPI(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("acme")
	var rep map[string]any
	e.must(200, "GET", "/v1/usage?from=2026-01-01T00:00:00Z", tok, nil, &rep)
	e.must(400, "GET", "/v1/usage?from=yesterday", tok, nil, nil)
	code, out := e.do("GET", "/metrics", e.admin, nil)
	if code != 200 || !strings.Contains(string(out), `ironvisor_api_requests_total{code="200",method="GET",route="/v1/usage"} 1`) ||
		!strings.Contains(string(out), `ironvisor_instances{state="pending"} 0`) {
		t.Fatalf("metrics: %d %s", code, out)
	}
	e.must(403, "GET", "/metrics", tok, nil, nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.must(200, "GET", "/v1/openapi.json", tok, nil, &doc)
	routes := apiv1.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, r := range routes {
		if _, ok := doc.Paths[r.Pattern][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s missing from openapi.json", r.Method, r.Pattern)
		}
	}
	b, _ := json.Marshal(doc)
	if strings.Count(string(b), `"operationId"`) != len(routes) {
		t.Errorf("openapi has operations the router does not")
	}
}
