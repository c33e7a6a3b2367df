// Package tags is the core's store of key-value tags on a tenant's
// resources (instances, images, security groups, networks, addresses),
// as EC2's CreateTags, DeleteTags and DescribeTags use them. Tags are
// kept per tenant and resource ID; the caller has already checked that
// the tenant may see the resource. Like EC2, a resource holds at most 50
// tags, keys are 1 to 128 characters and values at most 256, and keys
// starting with "aws:" are reserved.
package tags

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Limits, as EC2's.
const (
	MaxPerResource = 50
	MaxKeyLen      = 128
	MaxValueLen    = 256
)

// Tag is one key and its value.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Removal names a tag to delete: by key, and, when Value is not nil, only
// if the tag has that value.
type Removal struct {
	Key   string
	Value *string
}

// Store keeps tags in the store's Tags bucket, one record per tenant and
// resource, keyed "tenant/resource".
type Store struct {
	db *store.DB
}

// New returns the tag store over db.
func New(db *store.DB) *Store { return &Store{db: db} }

// key is the record key of a tenant's resource.
func key(tenant, resource string) string { return tenant + "/" + resource }

// Validate checks a tag's key and value.
func Validate(t Tag) error {
	switch {
	case t.Key == "" || utf8.RuneCountInString(t.Key) > MaxKeyLen:
		return fmt.Errorf("%w: tag key must be 1 to %d characters", apiv1.InvalidParameter, MaxKeyLen)
	case utf8.RuneCountInString(t.Value) > MaxValueLen:
		return fmt.Errorf("%w: tag value of %q longer than %d characters", apiv1.InvalidParameter, t.Key, MaxValueLen)
	case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
		return fmt.Errorf("%w: tag keys starting with aws: are reserved", apiv1.InvalidParameter)
	case !utf8.ValidString(t.Key) || !utf8.ValidString(t.Value):
		return fmt.Errorf("%w: tags must be UTF-8", apiv1.InvalidParameter)
	}
	return nil
}

// Set adds or overwrites tags on each of tenant's resources, all in one
// transaction.
func (s *Store) Set(tenant string, resources []string, set []Tag) error {
	for _, t := range set {
		if err := Validate(t); err != nil {
			return err
		}
	}
	return s.update(tenant, resources, func(r string, m map[string]string) error {
		for _, t := range set {
			m[t.Key] = t.Value
		}
		if len(m) > MaxPerResource {
			return fmt.Errorf("%w: %s would have %d tags, at most %d", apiv1.LimitExceeded, r, len(m), MaxPerResource)
		}
		return nil
	})
}

// Delete removes tags from each of tenant's resources.
func (s *Store) Delete(tenant string, resources []string, rm []Removal) error {
	return s.update(tenant, resources, func(_ string, m map[string]string) error {
		for _, d := range rm {
			if v, ok := m[d.Key]; ok && (d.Value == nil || *d.Value == v) {
				delete(m, d.Key)
			}
		}
		return nil
	})
}

// update applies change to the tags of each resource, as a map, in one
// transaction; a resource left with no tag loses its record.
func (s *Store) update(tenant string, resources []string, change func(resource string, m map[string]string) error) error {
	return s.db.Update(func(tx *store.Tx) error {
		for _, r := range resources {
			cur, err := get(tx, tenant, r)
			if err != nil {
				return err
			}
			m := toMap(cur)
			if err := change(r, m); err != nil {
				return err
			}
			if len(m) > 0 {
				err = tx.Put(store.Tags, key(tenant, r), fromMap(m))
			} else if err = tx.Delete(store.Tags, key(tenant, r)); isNotFound(err) {
				err = nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Forget removes every tag of tenant's resource (when it is gone).
func (s *Store) Forget(tenant, resource string) error {
	err := s.db.DeleteOne(store.Tags, key(tenant, resource))
	if isNotFound(err) {
		return nil
	}
	return err
}

// Of returns the tags of tenant's resource, sorted by key.
func (s *Store) Of(tenant, resource string) ([]Tag, error) {
	var out []Tag
	err := s.db.View(func(tx *store.Tx) error {
		var err error
		out, err = get(tx, tenant, resource)
		return err
	})
	return out, err
}

// All returns the tags of every resource of tenant, by resource ID.
func (s *Store) All(tenant string) (map[string][]Tag, error) {
	out := map[string][]Tag{}
	err := s.db.View(func(tx *store.Tx) error {
		prefix := tenant + "/"
		return tx.Scan(store.Tags, prefix, func(k string, raw []byte) error {
			var ts []Tag
			if err := json.Unmarshal(raw, &ts); err != nil {
				return fmt.Errorf("decode tags %q: %w", k, err)
			}
			out[strings.TrimPrefix(k, prefix)] = ts
			return nil
		})
	})
	return out, err
}

// get returns the stored tags of a resource, none if it has no record.
func get(tx *store.Tx, tenant, resource string) ([]Tag, error) {
	ts, err := store.Get[[]Tag](tx, store.Tags, key(tenant, resource))
	if isNotFound(err) {
		return nil, nil
	}
	return ts, err
}

func isNotFound(err error) bool { return err != nil && apiv1.CodeOf(err) == apiv1.NotFound }

func toMap(ts []Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[t.Key] = t.Value
	}
	return m
}

func fromMap(m map[string]string) []Tag {
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
