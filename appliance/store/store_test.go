package store

import (
	"errors"
	"path/filepath"
	"testing"
)

type rec struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	N    int    `json:"n"`
}

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPutGetListDelete(t *testing.T) {
	db := openTemp(t)
	for i, id := range []string{"i-b", "i-a", "x-c"} {
		if err := db.PutOne(Instances, id, rec{ID: id, N: i}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := GetOne[rec](db, Instances, "i-a")
	if err != nil || got.N != 1 {
		t.Fatalf("get i-a = %+v, %v", got, err)
	}
	list, err := ListAll[rec](db, Instances, "i-")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "i-a" || list[1].ID != "i-b" {
		t.Fatalf("list i- = %+v", list)
	}
	if err := db.DeleteOne(Instances, "i-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := GetOne[rec](db, Instances, "i-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if err := db.DeleteOne(Instances, "i-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	db := openTemp(t)
	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		if err := tx.Put(Tenants, "t-1", rec{ID: "t-1"}); err != nil {
			return err
		}
		if err := tx.Put(Tokens, "k-1", rec{ID: "k-1"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	db.View(func(tx *Tx) error {
		if tx.Has(Tenants, "t-1") || tx.Has(Tokens, "k-1") {
			t.Error("failed transaction left records behind")
		}
		return nil
	})
}

func TestCreateRefusesDuplicate(t *testing.T) {
	db := openTemp(t)
	create := func() error {
		return db.Update(func(tx *Tx) error { return tx.Create(Images, "debian", rec{Name: "debian"}) })
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	if err := create(); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
}

func TestUnknownBucketAndEmptyKey(t *testing.T) {
	db := openTemp(t)
	err := db.Update(func(tx *Tx) error { return tx.Put("nope", "k", 1) })
	if err == nil {
		t.Fatal("put into unknown bucket succeeded")
	}
	if err := db.PutOne(Images, "", 1); err == nil {
		t.Fatal("put with empty key succeeded")
	}
}

func TestSchemaVersionPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.SchemaVersion(); err != nil || v != SchemaVersion {
		t.Fatalf("schema version = %d, %v", v, err)
	}
	// Pretend a newer build wrote the file: this build must refuse it.
	if err := db.PutOne(Meta, schemaKey, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(path); err == nil {
		db.Close()
		t.Fatal("opened a store with a newer schema version")
	}
}

func TestSequenceAndCount(t *testing.T) {
	db := openTemp(t)
	err := db.Update(func(tx *Tx) error {
		for want := uint64(1); want <= 3; want++ {
			n, err := tx.NextSequence(Usage)
			if err != nil || n != want {
				t.Fatalf("sequence = %d, %v; want %d", n, err, want)
			}
			if err := tx.Put(Usage, string(rune('a'+n)), n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if n, err := tx.Count(Usage); err != nil || n != 3 {
			t.Errorf("count = %d, %v", n, err)
		}
		return nil
	})
}

func TestNewID(t *testing.T) {
	a, err := NewID("i-")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewID("i-")
	if a == b || len(a) != 18 || a[:2] != "i-" {
		t.Fatalf("ids %q %q", a, b)
	}
}
