package controlplane

import (
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/netcfg"
)

// TestPublicIPs: instances in a network take addresses from the pool, one
// each, lowest first; an empty pool is a 409; the hook sees the mappings;
// release and terminate give addresses back.
func TestPublicIPs(t *testing.T) {
	var hooked []netcfg.State
	e := newEnv(t, nil, func(c *Config) {
		c.OnNetworkChange = func(_ string, st netcfg.State) error { hooked = append(hooked, st); return nil }
	}) // pool: 203.0.113.10 and .11
	_, tok := e.tenant("alice")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"web-any"}`, nil)
	var in, plain []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "count": 3, "network": "web", "security_groups": []string{"web-any"}}, &in)
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &plain)

	var a, b apiv1.PublicIP
	e.must(201, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[0].ID}, &a)
	e.must(409, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[0].ID}, nil) // one each
	e.must(201, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[1].ID}, &b)
	if a.Address.String() != "203.0.113.10" || b.Address.String() != "203.0.113.11" || a.Network != "web" {
		t.Fatalf("allocated %+v and %+v", a, b)
	}
	e.must(409, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[2].ID}, nil) // pool empty
	e.must(400, "POST", "/v1/public-ips", tok, map[string]any{"instance": plain[0].ID}, nil)
	e.must(404, "POST", "/v1/public-ips", tok, map[string]any{"instance": "i-nope"}, nil)
	if last := hooked[len(hooked)-1]; len(last.PublicIPs) != 2 {
		t.Fatalf("hook saw %+v", last.PublicIPs)
	}

	e.must(204, "DELETE", "/v1/public-ips/203.0.113.10", tok, nil, nil)
	var c apiv1.PublicIP
	e.must(201, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[2].ID}, &c)
	if c.Address.String() != "203.0.113.10" {
		t.Fatalf("after release got %s, want 203.0.113.10 again", c.Address)
	}
	e.must(200, "DELETE", "/v1/instances/"+in[1].ID, tok, nil, nil)
	e.must(404, "GET", "/v1/public-ips/203.0.113.11", tok, nil, nil)
	var list []apiv1.PublicIP
	e.must(200, "GET", "/v1/public-ips", tok, nil, &list)
	if len(list) != 1 || list[0].Instance != in[2].ID {
		t.Fatalf("after terminate: %+v", list)
	}

	e = newEnv(t, nil, func(c *Config) { c.PublicIPs = nil })
	_, tok = e.tenant("alice")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"web-any"}`, nil)
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"web-any"}}, &in)
	e.must(409, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[0].ID}, nil) // none offered
}
