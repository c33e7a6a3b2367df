package controlplane

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// diskImage uploads the tiny guest with a disk of size bytes as image
// name.
func (e *env) diskImage(name string, size int) {
	e.t.Helper()
	code, out := e.postImage(map[string]string{"name": name},
		map[string][]byte{"kernel": testutil.PVHHello("hello", testutil.ExitHalt), "disk": make([]byte, size)})
	if code != 201 {
		e.t.Fatalf("upload %s: %d %s", name, code, out)
	}
}

// limitExceeded checks that a request answers 409 LimitExceeded.
func (e *env) limitExceeded(method, path, token string, body any) {
	e.t.Helper()
	code, out := e.do(method, path, token, body)
	if code != 409 || !bytes.Contains(out, []byte(`"LimitExceeded"`)) {
		e.t.Fatalf("%s %s past its quota: %d %s", method, path, code, out)
	}
}

// TestQuotas: every kind a tenant creates stops at its quota with
// LimitExceeded, the quotas are read by the tenant and set by the admin
// only, and another tenant keeps the defaults (issue 10, finding 5).
func TestQuotas(t *testing.T) {
	e := newEnv(t, nil)
	aID, ta := e.tenant("alice")
	bID, tb := e.tenant("bob")
	e.tinyImage("tiny")
	e.diskImage("disky", 1<<20)

	var q apiv1.Quotas
	e.must(200, "GET", "/v1/tenants/"+aID+"/quotas", ta, nil, &q)
	if q != apiv1.Quotas(quota.Defaults) {
		t.Fatalf("default quotas %+v", q)
	}
	if code, out := e.do("PUT", "/v1/tenants/"+aID+"/quotas", ta, `{"networks":100}`); code != 403 {
		t.Fatalf("a tenant set its own quotas: %d %s", code, out)
	}
	if code, out := e.do("PUT", "/v1/tenants/t-nosuch/quotas", e.admin, `{"networks":1}`); code != 404 {
		t.Fatalf("quotas of no tenant: %d %s", code, out)
	}
	if code, out := e.do("PUT", "/v1/tenants/"+aID+"/quotas", e.admin, `{"networks":-1}`); code != 400 {
		t.Fatalf("negative quota: %d %s", code, out)
	}
	e.must(200, "PUT", "/v1/tenants/"+aID+"/quotas", e.admin, map[string]int{"networks": 1, "security_groups": 1,
		"rules_per_group": 1, "tokens": 2, "instances": 2, "key_pairs": 1, "port_forwards": 1, "public_ips": 1,
		"volume_bytes": 5 << 19}, &q)
	if q.Networks != 1 || q.VolumeBytes != 5<<19 || q.Instances != 2 {
		t.Fatalf("set quotas %+v", q)
	}

	e.must(201, "POST", "/v1/networks", ta, map[string]any{"name": "n1", "cidr": "10.9.0.0/24"}, nil)
	e.limitExceeded("POST", "/v1/networks", ta, map[string]any{"name": "n2", "cidr": "10.10.0.0/24"})
	e.limitExceeded("POST", "/v1/security-groups", ta, `{"name":"g1","ingress":[{"proto":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"},{"proto":"tcp","from_port":80,"to_port":80,"cidr":"0.0.0.0/0"}]}`)
	e.must(201, "POST", "/v1/security-groups", ta, `{"name":"g1"}`, nil)
	e.limitExceeded("POST", "/v1/security-groups", ta, `{"name":"g2"}`)
	e.limitExceeded("PUT", "/v1/security-groups/g1", ta, `{"name":"g1","egress":[{"proto":"tcp","from_port":1,"to_port":1,"cidr":"0.0.0.0/0"},{"proto":"udp","from_port":1,"to_port":1,"cidr":"0.0.0.0/0"}]}`)
	e.must(201, "POST", "/v1/tenants/"+aID+"/tokens", ta, nil, nil)
	e.limitExceeded("POST", "/v1/tenants/"+aID+"/tokens", ta, nil)
	e.must(201, "POST", "/v1/key-pairs", ta, map[string]any{"name": "k1", "public_key": aliceKey}, nil)
	e.limitExceeded("POST", "/v1/key-pairs", ta, map[string]any{"name": "k2", "public_key": aliceKey})

	// Three instances pass the instance quota; a third 1 MiB volume
	// passes the 2.5 MiB of volumes.
	e.limitExceeded("POST", "/v1/instances", ta, map[string]any{"image": "tiny", "type": "nano", "count": 3})
	var in []apiv1.Instance
	e.must(201, "POST", "/v1/instances", ta, map[string]any{"image": "disky", "type": "nano", "network": "n1", "security_groups": []string{"g1"}}, &in)
	e.must(201, "POST", "/v1/instances", ta, map[string]any{"image": "disky", "type": "nano"}, nil)
	e.must(200, "PUT", "/v1/tenants/"+aID+"/quotas", e.admin, `{"instances":10}`, nil)
	e.must(201, "POST", "/v1/instances", ta, map[string]any{"image": "tiny", "type": "nano"}, nil)
	e.limitExceeded("POST", "/v1/instances", ta, map[string]any{"image": "disky", "type": "nano"})

	e.must(200, "PUT", "/v1/tenants/"+aID+"/quotas", e.admin, `{"public_ips":0}`, nil)
	e.limitExceeded("POST", "/v1/public-ips", ta, map[string]any{"instance": in[0].ID})
	e.must(201, "POST", "/v1/port-forwards", ta, map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 2222, "port": 22}, nil)
	e.limitExceeded("POST", "/v1/port-forwards", ta, map[string]any{"instance": in[0].ID, "proto": "tcp", "public_port": 2223, "port": 23})

	// Bob still has the defaults.
	e.must(200, "GET", "/v1/tenants/"+bID+"/quotas", tb, nil, &q)
	if q != apiv1.Quotas(quota.Defaults) {
		t.Fatalf("bob's quotas %+v", q)
	}
	e.must(201, "POST", "/v1/networks", tb, map[string]any{"name": "n1", "cidr": "10.11.0.0/24"}, nil)
	e.must(201, "POST", "/v1/networks", tb, map[string]any{"name": "n2", "cidr": "10.12.0.0/24"}, nil)
}

// TestRateLimitPerToken: a token past its burst gets 429 with
// Retry-After and the code RequestLimitExceeded, held for a second so
// that a client retrying at once is paced, while another tenant's token
// is served (issue 10, finding 5).
func TestRateLimitPerToken(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Rate, c.Burst = 0.5, 3 })
	_, ta := e.tenant("alice")
	_, tb := e.tenant("bob")
	for i := 0; i < 3; i++ {
		e.must(200, "GET", "/v1/networks", ta, nil, nil)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/networks", nil)
	req.Header.Set("Authorization", "Bearer "+ta)
	start := time.Now()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if held := time.Since(start); held < 900*time.Millisecond {
		t.Errorf("the 429 was answered after %v, not held", held)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || ra < 1 || ra > 2 || !bytes.Contains(out, []byte(`"RequestLimitExceeded"`)) {
		t.Fatalf("past the burst: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
	e.must(200, "GET", "/v1/networks", tb, nil, nil)
}
