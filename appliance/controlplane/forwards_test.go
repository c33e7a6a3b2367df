package controlplane

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/netcfg"
)

// TestPortForwards: a tenant forwards a public port to its instance in a
// network; the host network hook sees the forward; a second forward of the
// same public port, a reserved port, an instance without a network and a
// host without an uplink are refused with reasons; delete and terminate
// take forwards away.
func TestPortForwards(t *testing.T) {
	var hooked []netcfg.State
	e := newEnv(t, nil, func(c *Config) {
		c.OnNetworkChange = func(_ string, st netcfg.State) error { hooked = append(hooked, st); return nil }
	})
	alice, tok := e.tenant("alice")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"web-ssh"}`, nil)
	var in, plain []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"web-ssh"}}, &in)
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &plain)

	var pf apiv1.PortForward
	e.must(201, "POST", "/v1/port-forwards", tok, map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 2222, "port": 22}, &pf)
	if pf.ID == "" || pf.Network != "web" || pf.Instance != in[0].ID {
		t.Fatalf("forward %+v", pf)
	}
	last := hooked[len(hooked)-1]
	if len(last.Forwards) != 1 || last.Forwards[0] != (netcfg.PortForward{Proto: "tcp", PublicPort: 2222, Instance: in[0].ID, Network: netcfg.TenantName(alice, "web"), Port: 22}) {
		t.Fatalf("hook saw forwards %+v", last.Forwards)
	}
	// UDP on the same number is another port.
	e.must(201, "POST", "/v1/port-forwards", tok, map[string]any{"instance": in[0].ID, "proto": "udp", "public_port": 2222, "port": 53}, nil)
	for _, c := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 2222, "port": 80}, 409}, // taken
		{map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 8443, "port": 80}, 400}, // the API's
		{map[string]any{"instance": plain[0].ID, "proto": "tcp", "public_port": 2224, "port": 22}, 400},
		{map[string]any{"instance": "i-nope", "proto": "tcp", "public_port": 2225, "port": 22}, 404},
		{map[string]any{"instance": in[0].ID, "proto": "icmp", "public_port": 2226, "port": 22}, 400},
		{map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 0, "port": 22}, 400},
		{map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 70000, "port": 22}, 400},
		{map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": -1, "port": 22}, 400},
	} {
		if code, out := e.do("POST", "/v1/port-forwards", tok, c.body); code != c.want {
			t.Errorf("POST %v: %d %s, want %d", c.body, code, out, c.want)
		}
	}
	var list []apiv1.PortForward
	e.must(200, "GET", "/v1/port-forwards", tok, nil, &list)
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	e.must(204, "DELETE", "/v1/port-forwards/"+pf.ID, tok, nil, nil)
	e.must(404, "GET", "/v1/port-forwards/"+pf.ID, tok, nil, nil)
	if last := hooked[len(hooked)-1]; len(last.Forwards) != 1 || last.Forwards[0].Proto != "udp" {
		t.Fatalf("after delete the hook saw %+v", last.Forwards)
	}

	// Terminate drops the instance's forwards.
	e.must(200, "DELETE", "/v1/instances/"+in[0].ID, tok, nil, nil)
	e.must(200, "GET", "/v1/port-forwards", tok, nil, &list)
	if len(list) != 0 {
		t.Fatalf("forwards after terminate: %+v", list)
	}
	if last := hooked[len(hooked)-1]; len(last.Forwards) != 0 {
		t.Fatalf("after terminate the hook saw %+v", last.Forwards)
	}

	// A host without an uplink has nothing to forward from.
	e = newEnv(t, nil, func(c *Config) { c.Uplink = false })
	_, tok = e.tenant("alice")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"web-ssh"}`, nil)
	var in2 []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"web-ssh"}}, &in2)
	if code, out := e.do("POST", "/v1/port-forwards", tok, map[string]any{"instance": in2[0].ID, "proto": "tcp", "public_port": 2222, "port": 22}); code != 409 {
		t.Fatalf("without an uplink: %d %s, want 409", code, out)
	}
}

// TestPortForwardRefusesHostService: a forward of a port that a service of
// the host listens on (asked of the kernel, not a list) would take that
// service's traffic, such as the host's own SSH under serve; it is refused
// with 409 and the service named.
func TestPortForwardRefusesHostService(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: sock_diag of the host's sockets needs root")
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	e := newEnv(t, nil, func(c *Config) { c.HostListener = netcfg.HostListener })
	_, tok := e.tenant("alice")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"web-ssh"}`, nil)
	var in []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"web-ssh"}}, &in)
	code, out := e.do("POST", "/v1/port-forwards", tok, map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": port, "port": 22})
	if code != 409 || !bytes.Contains(out, []byte("service of the host")) {
		t.Fatalf("forward of the host's listening port %d: %d %s, want 409 naming the service", port, code, out)
	}
	// The same number over UDP is free.
	e.must(201, "POST", "/v1/port-forwards", tok, map[string]any{"instance": in[0].ID, "proto": "udp", "public_port": port, "port": 53}, nil)
}
