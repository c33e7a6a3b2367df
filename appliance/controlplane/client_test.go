package controlplane

import (
	"context"
	"errors"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// TestTypedClient drives the composed API through apiv1's typed client:
// the shapes the server answers decode into the contract's types, and the
// codes of the taxonomy come back matchable with errors.Is, including the
// two that answered wrong codes before it (a full public IP pool is
// LimitExceeded, a group an instance uses is InUse).
func TestTypedClient(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	admin := apiv1.NewClient(e.srv.URL, e.admin, e.srv.Client())
	tc, err := admin.CreateTenant(ctx, apiv1.TenantRequest{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	c := apiv1.NewClient(e.srv.URL, tc.Token, e.srv.Client())
	e.tinyImage("tiny")
	if _, err := c.CreateNetwork(ctx, apiv1.NetworkRequest{Name: "web", CIDR: "10.9.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSecurityGroup(ctx, apiv1.SecurityGroupRequest{Name: "ssh",
		Ingress: []apiv1.Rule{{Proto: "tcp", FromPort: 22, ToPort: 22, Group: "ssh"}}}); err != nil {
		t.Fatal(err)
	}
	three := 3
	insts, err := c.Launch(ctx, apiv1.LaunchRequest{Image: "tiny", Type: "nano", Count: &three, Network: "web", SecurityGroups: []string{"ssh"}})
	if err != nil || len(insts) != 3 || insts[0].State != "pending" || insts[0].Reason != apiv1.ReasonNoHypervisor {
		t.Fatalf("launch: %+v %v", insts, err)
	}
	for _, in := range insts[:2] {
		if _, err := c.AllocatePublicIP(ctx, apiv1.PublicIPRequest{Instance: in.ID}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.AllocatePublicIP(ctx, apiv1.PublicIPRequest{Instance: insts[2].ID})
	var ae *apiv1.Error
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != apiv1.LimitExceeded {
		t.Fatalf("full pool: %v", err)
	}
	if err := c.DeleteSecurityGroup(ctx, "ssh"); !errors.Is(err, apiv1.InUse) {
		t.Fatalf("group in use: %v", err)
	}
	if _, err := c.Instance(ctx, "i-nope"); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("missing instance: %v", err)
	}
	if _, err := c.Tenants(ctx); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("tenant listing tenants: %v", err)
	}
	g, err := c.SecurityGroup(ctx, "ssh")
	if err != nil || len(g.Ingress) != 1 || g.Ingress[0].Group != "ssh" || g.Tenant != tc.ID {
		t.Fatalf("group %+v %v", g, err)
	}
	in, err := c.Stop(ctx, insts[0].ID, apiv1.StopRequest{Force: true})
	if err != nil || in.State != "stopped" {
		t.Fatalf("stop: %+v %v", in, err)
	}
	if in, err = c.Resize(ctx, in.ID, apiv1.PatchRequest{Type: "micro"}); err != nil || in.Type != "micro" {
		t.Fatalf("resize: %+v %v", in, err)
	}
	if in, err = c.Terminate(ctx, in.ID); err != nil || in.State != "terminated" {
		t.Fatalf("terminate: %+v %v", in, err)
	}
	if u, err := c.Usage(ctx, "2026-01-01T00:00:00Z", ""); err != nil || u.From.IsZero() {
		t.Fatalf("usage: %+v %v", u, err)
	}
}

// TestDeclaredAccess: every route the contract declares admin-only answers
// 403 to a tenant's token, before its handler runs (no body is read).
func TestDeclaredAccess(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("acme")
	admins := 0
	for _, rt := range apiv1.Routes() {
		if rt.Access != apiv1.AccessAdmin {
			continue
		}
		admins++
		path := fill(rt.Pattern, map[string]string{"id": "x"})
		if code, out := e.do(rt.Method, path, tok, "not even JSON"); code != 403 {
			t.Errorf("%s with a tenant's token: %d %s", rt.Key(), code, out)
		}
	}
	if admins < 5 {
		t.Fatalf("only %d admin routes", admins)
	}
}
