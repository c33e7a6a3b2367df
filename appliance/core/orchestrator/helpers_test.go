package orchestrator

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// env is an orchestrator over a fresh store, with no HTTP anywhere.
type env struct {
	t    testing.TB
	o    *Orchestrator
	db   *store.DB
	life *lifecycle.Manager
	imgs *images.Store
	dom  *domain.Domain
	dir  string
}

// clock adapts time.Now to lifecycle.Clock.
type clock struct{}

func (clock) Now() time.Time { return time.Now() }

// newEnv composes an orchestrator with runner and nics (either may be nil).
func newEnv(t testing.TB, runner Runner, nics NICs) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	imgs, err := images.New(db, dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	life := lifecycle.NewManager(db, clock{}, types.Host{CPUs: 4, MemBytes: 4 * types.GiB})
	dom := domain.New(domain.Config{DB: db, Life: life, Uplink: true})
	o, err := New(Config{DB: db, DataDir: dir, Life: life, Images: imgs, Catalog: types.NewCatalog(db),
		Domain: dom, Runner: runner, NICs: nics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Wait)
	return &env{t: t, o: o, db: db, life: life, imgs: imgs, dom: dom, dir: dir}
}
