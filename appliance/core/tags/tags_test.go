package tags

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

func newStore(t *testing.T) *Store {
	db, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db)
}

func TestSetDeletePerTenant(t *testing.T) {
	s := newStore(t)
	if err := s.Set("t-a", []string{"i-1", "i-2"}, []Tag{{"Name", "web"}, {"env", "prod"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("t-a", []string{"i-1"}, []Tag{{"Name", "db"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Of("t-a", "i-1")
	if fmt.Sprint(got) != "[{Name db} {env prod}]" {
		t.Fatalf("i-1: %v", got)
	}
	if other, _ := s.Of("t-b", "i-1"); len(other) != 0 {
		t.Fatalf("another tenant sees %v", other)
	}
	if all, _ := s.All("t-b"); len(all) != 0 {
		t.Fatalf("another tenant's All: %v", all)
	}
	wrong := "staging"
	s.Delete("t-a", []string{"i-1", "i-2"}, []Removal{{Key: "env", Value: &wrong}, {Key: "Name"}})
	all, err := s.All("t-a")
	if err != nil || fmt.Sprint(all) != "map[i-1:[{env prod}] i-2:[{env prod}]]" {
		t.Fatalf("after delete: %v %v", all, err)
	}
	s.Delete("t-a", []string{"i-1"}, []Removal{{Key: "env"}})
	if err := s.Forget("t-a", "i-2"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.All("t-a"); len(all) != 0 {
		t.Fatalf("left: %v", all)
	}
}

func TestLimits(t *testing.T) {
	s := newStore(t)
	for _, bad := range []Tag{{"", "x"}, {strings.Repeat("k", 129), ""}, {"k", strings.Repeat("v", 257)}, {"aws:x", "y"}, {"k\xff", ""}} {
		if err := s.Set("t-a", []string{"i-1"}, []Tag{bad}); !errors.Is(err, apiv1.InvalidParameter) {
			t.Errorf("%q accepted: %v", bad.Key, err)
		}
	}
	var many []Tag
	for i := 0; i < MaxPerResource+1; i++ {
		many = append(many, Tag{Key: fmt.Sprint("k", i)})
	}
	if err := s.Set("t-a", []string{"i-1"}, many); !errors.Is(err, apiv1.LimitExceeded) {
		t.Fatalf("51 tags: %v", err)
	}
	if got, _ := s.Of("t-a", "i-1"); len(got) != 0 {
		t.Fatalf("a refused Set left %d tags", len(got))
	}
}
