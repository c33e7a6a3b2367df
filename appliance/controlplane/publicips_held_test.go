package controlplane

import (
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/netcfg"
)

// TestPublicIPHeld: an address allocated for no instance is held by the
// tenant; it is associated, moved only when asked, disassociated and
// kept when its instance is terminated; only associated addresses reach
// the host network; another tenant can neither see nor use it.
func TestPublicIPHeld(t *testing.T) {
	var hooked []netcfg.State
	e := newEnv(t, nil, func(c *Config) {
		c.OnNetworkChange = func(_ string, st netcfg.State) error { hooked = append(hooked, st); return nil }
	}) // pool: 203.0.113.10 and .11
	_, tok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"any"}`, nil)
	var in []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "count": 2, "network": "web", "security_groups": []string{"any"}}, &in)

	var held apiv1.PublicIP
	e.must(201, "POST", "/v1/public-ips", tok, map[string]any{}, &held)
	if !held.Held || held.Instance != "" || held.Address.String() != "203.0.113.10" {
		t.Fatalf("held %+v", held)
	}
	if n := len(hooked); n > 0 && len(hooked[n-1].PublicIPs) != 0 {
		t.Fatalf("an unassociated address reached the host network: %+v", hooked[n-1].PublicIPs)
	}
	addr := "/v1/public-ips/" + held.Address.String()
	e.must(404, "POST", addr+"/associate", bTok, map[string]any{"instance": in[0].ID}, nil)
	e.must(400, "POST", addr+"/associate", tok, map[string]any{}, nil)
	var a apiv1.PublicIP
	e.must(200, "POST", addr+"/associate", tok, map[string]any{"instance": in[0].ID}, &a)
	if a.Instance != in[0].ID || a.Network != "web" || !a.Held {
		t.Fatalf("associated %+v", a)
	}
	if last := hooked[len(hooked)-1]; len(last.PublicIPs) != 1 || last.PublicIPs[0].Address != held.Address {
		t.Fatalf("hook saw %+v", last.PublicIPs)
	}
	e.must(409, "POST", addr+"/associate", tok, map[string]any{"instance": in[1].ID}, nil) // in use
	e.must(200, "POST", addr+"/associate", tok, map[string]any{"instance": in[1].ID, "reassociate": true}, &a)
	if a.Instance != in[1].ID {
		t.Fatalf("moved %+v", a)
	}
	var other apiv1.PublicIP
	e.must(201, "POST", "/v1/public-ips", tok, map[string]any{"instance": in[0].ID}, &other)
	e.must(409, "POST", addr+"/associate", tok, map[string]any{"instance": in[0].ID, "reassociate": true}, nil) // in[0] has one

	// Terminating its instance disassociates a held address; an address
	// allocated for an instance goes with it.
	e.must(200, "DELETE", "/v1/instances/"+in[1].ID, tok, nil, nil)
	e.must(200, "DELETE", "/v1/instances/"+in[0].ID, tok, nil, nil)
	var list []apiv1.PublicIP
	e.must(200, "GET", "/v1/public-ips", tok, nil, &list)
	if len(list) != 1 || list[0].Address != held.Address || list[0].Instance != "" {
		t.Fatalf("after terminate: %+v", list)
	}
	e.must(200, "GET", "/v1/public-ips", bTok, nil, &list)
	if len(list) != 0 {
		t.Fatalf("bob sees %+v", list)
	}
	e.must(200, "POST", addr+"/disassociate", tok, nil, &a) // no change
	e.must(204, "DELETE", addr, tok, nil, nil)
	e.must(404, "GET", addr, tok, nil, nil)
}
