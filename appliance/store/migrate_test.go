package store

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestOpenMigratesNamesToTenantKeys: a store written by schema 1 (networks
// and security groups keyed by bare name) opens, with every such record
// under TenantKey(tenant, name) and nothing else changed (issue 10,
// finding 6).
func TestOpenMigratesNamesToTenantKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	type obj struct {
		Name   string `json:"name"`
		Tenant string `json:"tenant"`
		CIDR   string `json:"cidr,omitempty"`
	}
	err = db.Update(func(tx *Tx) error {
		for _, p := range []struct {
			b   Bucket
			key string
			v   any
		}{
			{Networks, "web", obj{Name: "web", Tenant: "t-a", CIDR: "10.1.0.0/24"}},
			{SecurityGroups, "web", obj{Name: "web", Tenant: "t-a"}},
			{SecurityGroups, "db", obj{Name: "db", Tenant: "t-b"}},
			{KeyPairs, "t-a/k", obj{Name: "k", Tenant: "t-a"}},
			{Meta, schemaKey, 1},
		} {
			if err := tx.Put(p.b, p.key, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatalf("open a schema 1 store: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(); err != nil || v != SchemaVersion {
		t.Fatalf("schema version = %d, %v; want %d", v, err, SchemaVersion)
	}
	keys := func(b Bucket) (out []string) {
		db.View(func(tx *Tx) error {
			return tx.Scan(b, "", func(k string, _ []byte) error { out = append(out, k); return nil })
		})
		return out
	}
	for b, want := range map[Bucket][]string{
		Networks:       {"t-a/web"},
		SecurityGroups: {"t-a/web", "t-b/db"},
		KeyPairs:       {"t-a/k"},
	} {
		if got := keys(b); !slices.Equal(got, want) {
			t.Errorf("%s keys = %q, want %q", b, got, want)
		}
	}
	n, err := GetOne[obj](db, Networks, "t-a/web")
	if err != nil || n.CIDR != "10.1.0.0/24" {
		t.Errorf("migrated network = %+v, %v", n, err)
	}
}
