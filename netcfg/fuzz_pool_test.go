package netcfg

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadPool feeds an arbitrary lease pool file, as a crash or a bad
// disk could leave it, to LoadPool: it never panics; a pool it accepts
// has every lease inside its network, on a host address with its own
// MAC, allocates only free addresses, and survives Save and LoadPool
// unchanged.
func FuzzLoadPool(f *testing.F) {
	p, _ := NewPool(netA)
	p.Allocate("i-1")
	p.Allocate("i-2")
	b, _ := json.Marshal(p)
	f.Add(b)
	f.Add([]byte(`{"network":{"name":"a","tenant":"t","index":1,"cidr":"10.1.0.0/29"},"leases":[{"instance":"x","ip":"10.1.0.1","mac":"02:49:00:01:00:01"}]}`))
	f.Add([]byte(`{"network":{"name":"a","tenant":"t","index":1,"cidr":"10.1.0.0/16"},"leases":[{"instance":"x","ip":"10.2.0.9","mac":""}]}`))
	f.Add([]byte(`{"network":{"name":"../a","index":0,"cidr":"0.0.0.0/0"}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "pool.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := LoadPool(path)
		if err != nil {
			return
		}
		n := p.Network
		for _, l := range p.Leases {
			off, err := hostOffset(&n, l.IP)
			if err != nil || l.IP == n.Gateway() || l.MAC != MACFor(n, off).String() {
				t.Fatalf("accepted lease %+v in %s (%v)", l, n.CIDR, err)
			}
		}
		used := map[string]bool{}
		for _, l := range p.Leases {
			used[l.IP.String()] = true
		}
		if l, err := p.Allocate("i-fuzz-new"); err == nil {
			if used[l.IP.String()] || !n.CIDR.Contains(l.IP) || l.IP == n.Gateway() {
				t.Fatalf("allocated %s, in use or not a host address of %s", l.IP, n.CIDR)
			}
			p.Release("i-fuzz-new")
		}
		if err := p.Save(path); err != nil {
			t.Fatal(err)
		}
		q, err := LoadPool(path)
		if err != nil {
			t.Fatalf("a saved pool does not load: %v", err)
		}
		if a, b := mustJSON(t, p), mustJSON(t, q); a != b {
			t.Fatalf("round trip changed the pool:\n%s\n%s", a, b)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
