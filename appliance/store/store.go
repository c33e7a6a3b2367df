// Package store is the appliance's crash-safe desired-state store.
//
// It wraps a single bbolt file. Every write runs in a bbolt read-write
// transaction, and bbolt fsyncs the file before Commit returns, so a write
// is acknowledged (Update returns nil) only after it is durable: a crash or
// kill -9 after that point cannot lose it, and a crash before that point
// leaves none of the transaction behind. Multi-object changes (a tenant and
// its first token, N instances of one launch) go in one Update so nothing is
// ever half-created.
//
// Values are JSON. Keys are strings chosen by the callers (IDs, names, or
// "instanceID/sequence" for per-instance records).
package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Bucket names one collection in the store.
type Bucket string

// The buckets of the store. Every bucket exists after Open.
const (
	Tenants        Bucket = "tenants"
	Tokens         Bucket = "tokens"
	InstanceTypes  Bucket = "instance_types"
	Images         Bucket = "images"
	Instances      Bucket = "instances"
	Networks       Bucket = "networks"
	SecurityGroups Bucket = "security_groups"
	PortForwards   Bucket = "port_forwards"
	KeyPairs       Bucket = "key_pairs"
	PublicIPs      Bucket = "public_ips"
	AccessKeys     Bucket = "access_keys"
	Tags           Bucket = "tags"
	Usage          Bucket = "usage"
	Meta           Bucket = "meta"
	Quotas         Bucket = "quotas"
	// RackMachines holds rack bootstrap's machines by MAC: the
	// configuration each boots with and its stable DHCP lease.
	RackMachines Bucket = "rack_machines"
)

// Buckets lists every bucket Open creates.
var Buckets = []Bucket{Tenants, Tokens, InstanceTypes, Images, Instances, Networks, SecurityGroups, PortForwards, KeyPairs, PublicIPs, AccessKeys, Tags, Usage, Meta, Quotas, RackMachines}

// SchemaVersion is the layout version this code writes and understands. It
// is stored under the key "schema_version" in the Meta bucket.
// Older versions are migrated on Open (migrate.go); version 2 keys
// networks and security groups by TenantKey.
const SchemaVersion = 2

const schemaKey = "schema_version"

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = apiv1.NewError(apiv1.NotFound, "not found")

// ErrExists is returned (wrapped) by Tx.Create when a key already exists.
var ErrExists = apiv1.NewError(apiv1.AlreadyExists, "already exists")

// DB is an open store. It is safe for concurrent use: bbolt serialises
// writers and lets readers run in parallel.
type DB struct {
	bolt *bolt.DB
	path string
}

// Open opens (creating if needed) the store file at path, creates missing
// buckets and checks the schema version. It fails after a few seconds if
// another process holds the file.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	if err := db.init(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// init creates the buckets and writes or checks the schema version.
func (db *DB) init() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range Buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket([]byte(Meta))
		raw := meta.Get([]byte(schemaKey))
		if raw == nil {
			return meta.Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion)))
		}
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return fmt.Errorf("bad schema version %q: %w", raw, err)
		}
		if v > SchemaVersion || v < 1 {
			return fmt.Errorf("schema version %d, this build understands %d", v, SchemaVersion)
		}
		if v < SchemaVersion {
			return migrate(tx, v)
		}
		return nil
	})
}

// Path returns the file the store lives in.
func (db *DB) Path() string { return db.path }

// Close closes the store. Pending transactions finish first.
func (db *DB) Close() error { return db.bolt.Close() }

// Update runs fn in a read-write transaction. If fn returns an error nothing
// it wrote is kept. If Update returns nil, every write is on disk.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// View runs fn in a read-only transaction that sees one consistent
// snapshot.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Check walks every page of the file and reports the first inconsistency
// bbolt finds (pages referenced twice, unreachable or out of bounds).
func (db *DB) Check() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		var first error
		for err := range btx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("check %s: %w", db.path, first)
		}
		return nil
	})
}

// SchemaVersion returns the schema version recorded in the file.
func (db *DB) SchemaVersion() (int, error) {
	var v int
	err := db.View(func(tx *Tx) error {
		raw := tx.bucket(Meta).Get([]byte(schemaKey))
		var err error
		v, err = strconv.Atoi(string(raw))
		return err
	})
	return v, err
}

// Tx is one transaction, valid only inside the Update or View callback that
// received it.
type Tx struct {
	tx *bolt.Tx
}

// Writable reports whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.tx.Writable() }

// bucket returns the named bucket, or nil for a name Open did not create.
func (tx *Tx) bucket(b Bucket) *bolt.Bucket {
	return tx.tx.Bucket([]byte(b))
}

// bucketOrErr is bucket with a clear error for an unknown name.
func (tx *Tx) bucketOrErr(b Bucket) (*bolt.Bucket, error) {
	bk := tx.bucket(b)
	if bk == nil {
		return nil, fmt.Errorf("unknown bucket %q", b)
	}
	return bk, nil
}

// GetRaw returns the raw JSON under key, or an error wrapping ErrNotFound.
// The bytes are copied and stay valid after the transaction.
func (tx *Tx) GetRaw(b Bucket, key string) ([]byte, error) {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return nil, err
	}
	raw := bk.Get([]byte(key))
	if raw == nil {
		return nil, fmt.Errorf("%s %q: %w", b, key, ErrNotFound)
	}
	return append([]byte(nil), raw...), nil
}

// Get decodes the JSON value under key into v.
func (tx *Tx) Get(b Bucket, key string, v any) error {
	raw, err := tx.GetRaw(b, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", b, key, err)
	}
	return nil
}

// Has reports whether key exists in b.
func (tx *Tx) Has(b Bucket, key string) bool {
	bk := tx.bucket(b)
	return bk != nil && bk.Get([]byte(key)) != nil
}

// Put stores v as JSON under key, replacing any previous value.
func (tx *Tx) Put(b Bucket, key string, v any) error {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("put %s: empty key", b)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", b, key, err)
	}
	if err := bk.Put([]byte(key), raw); err != nil {
		return fmt.Errorf("put %s %q: %w", b, key, err)
	}
	return nil
}

// Create is Put that fails with ErrExists if key is already present.
func (tx *Tx) Create(b Bucket, key string, v any) error {
	if tx.Has(b, key) {
		return fmt.Errorf("%s %q: %w", b, key, ErrExists)
	}
	return tx.Put(b, key, v)
}

// Delete removes key. Deleting a missing key returns an error wrapping
// ErrNotFound.
func (tx *Tx) Delete(b Bucket, key string) error {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return err
	}
	if bk.Get([]byte(key)) == nil {
		return fmt.Errorf("%s %q: %w", b, key, ErrNotFound)
	}
	if err := bk.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %s %q: %w", b, key, err)
	}
	return nil
}

// Scan calls fn for every key in b that starts with prefix, in key order.
// raw is only valid during the call. An error from fn stops the scan and is
// returned. fn must not write to b.
func (tx *Tx) Scan(b Bucket, prefix string, fn func(key string, raw []byte) error) error {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return err
	}
	c := bk.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}

// hasPrefix reports whether k starts with p.
func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

// NextSequence returns the next value of b's durable counter (1, 2, ...).
// It needs a writable transaction.
func (tx *Tx) NextSequence(b Bucket) (uint64, error) {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return 0, err
	}
	n, err := bk.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("next sequence %s: %w", b, err)
	}
	return n, nil
}

// Count returns the number of keys in b.
func (tx *Tx) Count(b Bucket) (int, error) {
	bk, err := tx.bucketOrErr(b)
	if err != nil {
		return 0, err
	}
	return bk.Stats().KeyN, nil
}
