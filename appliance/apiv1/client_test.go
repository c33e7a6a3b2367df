package apiv1

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// matches reports whether path fits pattern, {name} matching one segment.
func matches(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != qs[i] {
			return false
		}
	}
	return true
}

// TestClientCoversRoutes calls every typed method against a recording
// server: together they send each route of the table exactly once, so
// the client's paths cannot drift from the server's.
func TestClientCoversRoutes(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("%s %s without the token", r.Method, r.URL.Path)
		}
		mu.Lock()
		for _, rt := range Routes() {
			if rt.Method == r.Method && matches(rt.Pattern, r.URL.EscapedPath()) {
				hits[rt.Key()]++
			}
		}
		mu.Unlock()
		w.Write([]byte("null"))
	}))
	defer srv.Close()
	kernel := filepath.Join(t.TempDir(), "kernel")
	os.WriteFile(kernel, []byte("k"), 0o600)
	c, ctx := NewClient(srv.URL+"/", "tok", srv.Client()), context.Background()
	errs := []error{
		first(c.Host(ctx)), first(c.UpdateHost(ctx, HostUpdateRequest{SHA256: "00", Tries: 1}, strings.NewReader("uki"))), first(c.OpenAPI(ctx)), first(c.Metrics(ctx)),
		first(c.Tenants(ctx)), first(c.CreateTenant(ctx, TenantRequest{Name: "a"})),
		first(c.Tokens(ctx, "t-1")), first(c.IssueToken(ctx, "t-1")), c.RevokeToken(ctx, "t-1", "k-1"),
		first(c.Quotas(ctx, "t-1")), first(c.SetQuotas(ctx, "t-1", QuotasRequest{})),
		first(c.InstanceTypes(ctx)), first(c.AddInstanceType(ctx, InstanceTypeRequest{Name: "x", VCPUs: 1})),
		first(c.Images(ctx)), first(c.UploadImage(ctx, "img", "console=ttyS0", kernel, "", "")),
		first(c.Image(ctx, "img")), c.DeleteImage(ctx, "img"),
		first(c.ImageImports(ctx)), first(c.ImportImage(ctx, ImageImportRequest{Name: "img", URL: "http://x/y"})),
		first(c.ImageImport(ctx, "import-1")),
		first(c.Instances(ctx)), first(c.Launch(ctx, LaunchRequest{Image: "img", Type: "nano"})),
		first(c.Instance(ctx, "i-1")), first(c.Resize(ctx, "i-1", PatchRequest{Type: "micro"})),
		first(c.Terminate(ctx, "i-1")), first(c.Stop(ctx, "i-1", StopRequest{Force: true})),
		first(c.Start(ctx, "i-1")), first(c.Reboot(ctx, "i-1")), first(c.Console(ctx, "i-1", 3, 10)), first(c.ConsoleWrite(ctx, "i-1", []byte("ls\r"))),
		first(c.Networks(ctx)), first(c.CreateNetwork(ctx, NetworkRequest{Name: "n"})),
		first(c.Network(ctx, "n")), c.DeleteNetwork(ctx, "n"),
		first(c.SecurityGroups(ctx)), first(c.CreateSecurityGroup(ctx, SecurityGroupRequest{Name: "g"})),
		first(c.SecurityGroup(ctx, "g")), first(c.PutSecurityGroup(ctx, SecurityGroupRequest{Name: "g"})),
		c.DeleteSecurityGroup(ctx, "g"),
		first(c.KeyPairs(ctx)), first(c.ImportKeyPair(ctx, KeyPairRequest{Name: "k"})),
		first(c.KeyPair(ctx, "k")), c.DeleteKeyPair(ctx, "k"),
		first(c.PortForwards(ctx)), first(c.CreatePortForward(ctx, PortForwardRequest{Instance: "i-1"})),
		first(c.PortForward(ctx, "pf-1")), c.DeletePortForward(ctx, "pf-1"),
		first(c.PublicIPs(ctx)), first(c.AllocatePublicIP(ctx, PublicIPRequest{Instance: "i-1"})),
		first(c.PublicIP(ctx, "203.0.113.10")), c.ReleasePublicIP(ctx, "203.0.113.10"),
		first(c.AssociatePublicIP(ctx, "203.0.113.10", PublicIPAssociation{Instance: "i-1"})), first(c.DisassociatePublicIP(ctx, "203.0.113.10")),
		first(c.AccessKeys(ctx)), first(c.CreateAccessKey(ctx)), c.DeleteAccessKey(ctx, "AKIA1"),
		first(c.Usage(ctx, "", "")),
		first(c.RackMachines(ctx)), first(c.RackMachine(ctx, "52:54:00:00:00:01", true)),
		first(c.SetRackMachine(ctx, "52:54:00:00:00:01", RackMachineRequest{})), c.DeleteRackMachine(ctx, "52:54:00:00:00:01"),
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	for _, rt := range Routes() {
		if hits[rt.Key()] != 1 {
			t.Errorf("%s sent %d times", rt.Key(), hits[rt.Key()])
		}
	}
}

// first returns the error of a (value, error) pair.
func first[T any](_ T, err error) error { return err }

// TestClientErrors: an error answer is an *Error with the status, its
// code matches with errors.Is, and a non-JSON answer keeps its text.
func TestClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/plain") {
			http.Error(w, "bad gateway", 502)
			return
		}
		w.WriteHeader(404)
		w.Write([]byte(`{"error":"instance \"i-9\": not found","code":"NotFound"}`))
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "tok", nil)
	_, err := c.Instance(context.Background(), "i-9")
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 || !errors.Is(err, NotFound) || err.Error() != `HTTP 404: instance "i-9": not found` {
		t.Fatalf("error %#v: %v", e, err)
	}
	_, err = c.Instance(context.Background(), "plain")
	if err == nil || err.Error() != "HTTP 502: bad gateway" {
		t.Fatalf("plain error: %v", err)
	}
	if err := c.Do(context.Background(), "GET /v1/nowhere", nil, nil, nil, nil); err == nil {
		t.Fatal("a route outside the table was sent")
	}
}
