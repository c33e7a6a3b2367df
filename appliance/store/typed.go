package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Get returns the JSON value under key decoded as a T.
func Get[T any](tx *Tx, b Bucket, key string) (T, error) {
	var v T
	err := tx.Get(b, key, &v)
	return v, err
}

// List returns every value in b whose key starts with prefix, decoded as
// T, in key order.
func List[T any](tx *Tx, b Bucket, prefix string) ([]T, error) {
	var out []T
	err := tx.Scan(b, prefix, func(key string, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s %q: %w", b, key, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// GetOne is Get in its own read transaction.
func GetOne[T any](db *DB, b Bucket, key string) (T, error) {
	var v T
	err := db.View(func(tx *Tx) error {
		var err error
		v, err = Get[T](tx, b, key)
		return err
	})
	return v, err
}

// ListAll is List in its own read transaction.
func ListAll[T any](db *DB, b Bucket, prefix string) ([]T, error) {
	var out []T
	err := db.View(func(tx *Tx) error {
		var err error
		out, err = List[T](tx, b, prefix)
		return err
	})
	return out, err
}

// PutOne stores v under key in its own durable transaction.
func (db *DB) PutOne(b Bucket, key string, v any) error {
	return db.Update(func(tx *Tx) error { return tx.Put(b, key, v) })
}

// DeleteOne deletes key in its own durable transaction.
func (db *DB) DeleteOne(b Bucket, key string) error {
	return db.Update(func(tx *Tx) error { return tx.Delete(b, key) })
}

// NewID returns prefix followed by 16 random hex digits (64 bits from
// crypto/rand), e.g. "i-3f9a0c1b2d4e5f60". IDs never contain '/'.
func NewID(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}
