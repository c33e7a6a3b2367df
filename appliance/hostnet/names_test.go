package hostnet

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// TestOldPoolKeepsLeases: a pool file written when networks were named by
// their tenant's name alone ("web.json" holding network "web") is moved
// to the host name at Open, and the running instance keeps its address
// across the upgrade (issue 10, finding 6).
func TestOldPoolKeepsLeases(t *testing.T) {
	dir := t.TempDir()
	old := web
	old.Name = "web"
	p, err := netcfg.NewPool(old)
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Allocate("i-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Save(filepath.Join(dir, "web.json")); err != nil {
		t.Fatal(err)
	}
	n := open(t, dir, &recApplier{})
	if _, err := os.Stat(filepath.Join(dir, "web.json")); !os.IsNotExist(err) {
		t.Fatalf("old pool file left: %v", err)
	}
	if err := n.Sync(context.Background(), st0, []lifecycle.Instance{inst("i-a", lifecycle.Running)}); err != nil {
		t.Fatal(err)
	}
	nic, err := n.Attach(context.Background(), inst("i-a", lifecycle.Running))
	if err != nil {
		t.Fatal(err)
	}
	if nic.IP != l.IP || nic.MAC != l.MAC {
		t.Fatalf("lease after upgrade %s %s, want %s %s", nic.IP, nic.MAC, l.IP, l.MAC)
	}
}
