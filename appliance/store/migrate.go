package store

import (
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// TenantKey is the key of a tenant's named object (network, security
// group, key pair): names are unique per tenant, never per host, so that
// no tenant learns another's names from a conflict.
func TenantKey(tenant, name string) string { return tenant + "/" + name }

// migrations[v] moves a store of schema version v to v+1, inside the
// transaction that opens it, so a crash leaves the old version whole.
var migrations = map[int]func(*bolt.Tx) error{
	1: rekeyByTenant,
}

// migrate runs the migrations from version v up to SchemaVersion and
// records the new version.
func migrate(tx *bolt.Tx, v int) error {
	for ; v < SchemaVersion; v++ {
		m := migrations[v]
		if m == nil {
			return fmt.Errorf("no migration from schema version %d", v)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return tx.Bucket([]byte(Meta)).Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion)))
}

// rekeyByTenant (schema 1 to 2) moves networks and security groups from
// their bare name to TenantKey(tenant, name).
func rekeyByTenant(tx *bolt.Tx) error {
	for _, b := range []Bucket{Networks, SecurityGroups} {
		bk := tx.Bucket([]byte(b))
		type move struct{ from, to string }
		var moves []move
		err := bk.ForEach(func(k, v []byte) error {
			var o struct {
				Name   string `json:"name"`
				Tenant string `json:"tenant"`
			}
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("decode %s %q: %w", b, k, err)
			}
			if to := TenantKey(o.Tenant, o.Name); to != string(k) {
				moves = append(moves, move{string(k), to})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range moves {
			v := append([]byte(nil), bk.Get([]byte(m.from))...)
			if err := bk.Put([]byte(m.to), v); err != nil {
				return err
			}
			if err := bk.Delete([]byte(m.from)); err != nil {
				return err
			}
		}
	}
	return nil
}
