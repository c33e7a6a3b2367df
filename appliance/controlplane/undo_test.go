package controlplane

import (
	"errors"
	"slices"
	"testing"

	"github.com/ironvisor/ironvisor/netcfg"
)

// TestRefusedNetworkChangeLeavesNothing: a change the host network
// refuses is answered as a failure and is gone from the store, and the
// host network is handed the state from before, so the change cannot be
// applied later behind the caller's back (issue 10, finding 9). It used
// to stay committed.
func TestRefusedNetworkChangeLeavesNothing(t *testing.T) {
	var last netcfg.State
	refuse := ""
	e := newEnv(t, nil, func(c *Config) {
		c.OnNetworkChange = func(_ string, st netcfg.State) error {
			last = st
			has := slices.ContainsFunc(st.Networks, func(n netcfg.Network) bool { return n.Name == refuse }) ||
				slices.ContainsFunc(st.Groups, func(g netcfg.SecurityGroup) bool { return g.Name == refuse && len(g.Ingress) > 0 })
			if has {
				return errors.New("kernel says no")
			}
			return nil
		}
	})
	alice, ta := e.tenant("alice")
	e.must(201, "POST", "/v1/networks", ta, map[string]any{"name": "good", "cidr": "10.8.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", ta, `{"name":"g"}`, nil)

	refuse = netcfg.TenantName(alice, "bad")
	if code, out := e.do("POST", "/v1/networks", ta, map[string]any{"name": "bad", "cidr": "10.9.0.0/24"}); code < 400 {
		t.Fatalf("a refused network was created: %d %s", code, out)
	}
	if code, out := e.do("GET", "/v1/networks/bad", ta, nil); code != 404 {
		t.Fatalf("the refused network is stored: %d %s", code, out)
	}
	if len(last.Networks) != 1 || last.Networks[0].Name != netcfg.TenantName(alice, "good") {
		t.Fatalf("the host network was left with %+v", last.Networks)
	}

	refuse = netcfg.TenantName(alice, "g")
	rules := `{"name":"g","ingress":[{"proto":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"}]}`
	if code, out := e.do("PUT", "/v1/security-groups/g", ta, rules); code < 400 {
		t.Fatalf("a refused rule change was made: %d %s", code, out)
	}
	var g netcfg.SecurityGroup
	e.must(200, "GET", "/v1/security-groups/g", ta, nil, &g)
	if len(g.Ingress) != 0 || len(last.Groups) != 1 || len(last.Groups[0].Ingress) != 0 {
		t.Fatalf("refused rules stayed: stored %+v, host %+v", g, last.Groups)
	}
	// The next change does not bring the refused one back.
	refuse = ""
	e.must(201, "POST", "/v1/networks", ta, map[string]any{"name": "next", "cidr": "10.10.0.0/24"}, nil)
	if len(last.Networks) != 2 || len(last.Groups[0].Ingress) != 0 {
		t.Fatalf("the next change applied %+v %+v", last.Networks, last.Groups)
	}
}
