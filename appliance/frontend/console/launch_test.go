package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLaunchFormRootSize: the launch form offers the root size, refuses
// one out of range itself, and hands one in range to the core, which
// refuses it for an image without a disk (nothing is launched).
func TestLaunchFormRootSize(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	b := e.login(tok)
	if a := b.mustGet("/console/instances/new", http.StatusOK); !strings.Contains(a.body, `name="root_size_gib"`) {
		t.Fatal("the launch form has no root size field")
	}
	for _, c := range []struct{ size, want string }{
		{"0", "root_size_gib"},
		{"-3", "root_size_gib"},
		{"lots", "root_size_gib"},
		{"100000", "root_size_gib"},
		{"8", "has no disk"},
	} {
		a := b.post("/console/instances", url.Values{"image": {e.image}, "type": {"small"}, "root_size_gib": {c.size}})
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, c.want) {
			t.Errorf("root_size_gib %q: %d, want 400 naming %q: %.300s", c.size, a.status, c.want, a.body)
		}
	}
	if ins, err := e.orch.Instances(who); err != nil || len(ins) != 0 {
		t.Fatalf("refused launches left %d instances (%v)", len(ins), err)
	}
	// Empty means the image's own size: the launch goes through.
	if a := b.post("/console/instances", url.Values{"image": {e.image}, "type": {"small"}, "root_size_gib": {""}}); a.status != http.StatusSeeOther {
		t.Fatalf("launch without a root size: %d: %.300s", a.status, a.body)
	}
}
