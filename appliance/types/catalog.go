package types

import (
	"errors"
	"fmt"
	"sort"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// ErrNotFound is wrapped when a type name is unknown.
var ErrNotFound = apiv1.NewError(apiv1.NotFound, "instance type not found")

// ErrExists is wrapped when adding a type whose name is taken.
var ErrExists = apiv1.NewError(apiv1.AlreadyExists, "instance type already exists")

// Catalog is the built-in table plus the admin's types, kept in the store.
type Catalog struct {
	db *store.DB
}

// NewCatalog returns the catalogue backed by db.
func NewCatalog(db *store.DB) *Catalog { return &Catalog{db: db} }

// List returns every type, sorted by vCPUs, then memory, then name.
func (c *Catalog) List() ([]Type, error) {
	var out []Type
	err := c.db.View(func(tx *store.Tx) error {
		var err error
		out, err = ListTx(tx)
		return err
	})
	return out, err
}

// ListTx is List inside an existing transaction.
func ListTx(tx *store.Tx) ([]Type, error) {
	custom, err := store.List[Type](tx, store.InstanceTypes, "")
	if err != nil {
		return nil, fmt.Errorf("list instance types: %w", err)
	}
	out := append(Builtin(), custom...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VCPUs != b.VCPUs {
			return a.VCPUs < b.VCPUs
		}
		if a.MemBytes != b.MemBytes {
			return a.MemBytes < b.MemBytes
		}
		return a.Name < b.Name
	})
	return out, nil
}

// Get returns the type called name.
func (c *Catalog) Get(name string) (Type, error) {
	var t Type
	err := c.db.View(func(tx *store.Tx) error {
		var err error
		t, err = GetTx(tx, name)
		return err
	})
	return t, err
}

// GetTx is Get inside an existing transaction.
func GetTx(tx *store.Tx, name string) (Type, error) {
	if t, ok := LookupBuiltin(name); ok {
		return t, nil
	}
	t, err := store.Get[Type](tx, store.InstanceTypes, name)
	if errors.Is(err, store.ErrNotFound) {
		return Type{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return t, err
}

// Add validates t and stores it as an admin-defined type. Names of
// built-in or existing types are refused with ErrExists.
func (c *Catalog) Add(t Type) (Type, error) {
	t.Builtin = false
	if err := Validate(t); err != nil {
		return Type{}, err
	}
	if _, ok := LookupBuiltin(t.Name); ok {
		return Type{}, fmt.Errorf("%w: %q is built in", ErrExists, t.Name)
	}
	err := c.db.Update(func(tx *store.Tx) error {
		err := tx.Create(store.InstanceTypes, t.Name, t)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: %q", ErrExists, t.Name)
		}
		return err
	})
	if err != nil {
		return Type{}, err
	}
	return t, nil
}

// Delete removes an admin-defined type. Built-in types cannot be deleted.
// Instances keep the vCPUs and memory they were launched with, so deleting
// a type in use does not change them.
func (c *Catalog) Delete(name string) error {
	if _, ok := LookupBuiltin(name); ok {
		return fmt.Errorf("%w: %q is built in and cannot be deleted", ErrInvalid, name)
	}
	err := c.db.DeleteOne(store.InstanceTypes, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return err
}
