package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/vmm/testutil"
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
	// hooked counts the domain's network hook calls.
	hooked *atomic.Int32
}

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
	life := lifecycle.NewManager(db, lifecycle.SystemClock{}, types.Host{CPUs: 4, MemBytes: 4 * types.GiB})
	hooked := new(atomic.Int32)
	dom := domain.New(domain.Config{DB: db, Life: life, Uplink: true,
		OnNetworkChange: func(string, netcfg.State) error { hooked.Add(1); return nil }})
	o, err := New(Config{DB: db, DataDir: dir, Life: life, Images: imgs, Catalog: types.NewCatalog(db),
		Domain: dom, Runner: runner, NICs: nics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Wait)
	return &env{t: t, o: o, db: db, life: life, imgs: imgs, dom: dom, dir: dir, hooked: hooked}
}

// tenant is the principal of the tenant the tests act as.
var tenant = auth.Principal{TenantID: "t-1", TokenID: "k-1"}

// image stores an image of the tiny PVH guest, with a 1 MiB root disk
// when disk, and returns its ID.
func (e *env) image(name string, disk bool) string {
	e.t.Helper()
	up, err := e.imgs.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	defer up.Abort()
	if err := up.Add(images.PartKernel, bytes.NewReader(testutil.PVHHello("hello", testutil.ExitHalt))); err != nil {
		e.t.Fatal(err)
	}
	if disk {
		b := make([]byte, 1<<20)
		copy(b, "boot sector")
		if err := up.Add(images.PartDisk, bytes.NewReader(b)); err != nil {
			e.t.Fatal(err)
		}
	}
	img, err := up.Commit(name, "console=ttyS0")
	if err != nil {
		e.t.Fatal(err)
	}
	return img.ID
}

// network creates network web (10.9.0.0/24) and group ssh for tenant.
func (e *env) network() {
	e.t.Helper()
	if _, err := e.dom.CreateNetwork(tenant, netcfg.Network{Name: "web", CIDR: netip.MustParsePrefix("10.9.0.0/24")}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.dom.CreateGroup(tenant, netcfg.SecurityGroup{Name: "ssh"}); err != nil {
		e.t.Fatal(err)
	}
}

// launch launches one nano instance of image, in network web when net,
// waits for its boot to end and returns it as stored.
func (e *env) launch(image string, net bool) lifecycle.Instance {
	e.t.Helper()
	q := LaunchSpec{Image: image, Type: "nano", Count: 1}
	if net {
		q.Network, q.SecurityGroups = "web", []string{"ssh"}
	}
	insts, err := e.o.Launch(tenant, q)
	if err != nil {
		e.t.Fatal(err)
	}
	e.o.Wait()
	return e.get(insts[0].ID)
}

// get returns instance id as stored.
func (e *env) get(id string) lifecycle.Instance {
	e.t.Helper()
	in, err := e.life.Get(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// fakeRunner stands in for the supervisor: it keeps which VMMs run,
// records every call, and fails the starts of failID.
type fakeRunner struct {
	mu      sync.Mutex
	running map[string]RunSpec
	calls   []string
	failID  string
}

func newFakeRunner() *fakeRunner { return &fakeRunner{running: map[string]RunSpec{}} }

func (r *fakeRunner) Start(_ context.Context, s RunSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "start "+s.ID)
	if s.ID == r.failID {
		return errors.New("jail: no such device")
	}
	if _, ok := r.running[s.ID]; ok {
		return fmt.Errorf("start %s: already running", s.ID)
	}
	r.running[s.ID] = s
	return nil
}

func (r *fakeRunner) Stop(_ context.Context, id string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("stop %s force=%v", id, force))
	delete(r.running, id)
	return nil
}

func (r *fakeRunner) Console(_ context.Context, id string, off int64, max int) ([]byte, int64, error) {
	b := []byte("hello from " + id)
	return b, off + int64(len(b)), nil
}

func (r *fakeRunner) Forget(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "forget "+id)
	return nil
}

// take returns the calls since the last take.
func (r *fakeRunner) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.calls, "; ")
	r.calls = nil
	return s
}

// spec returns the run spec instance id was started with.
func (r *fakeRunner) spec(id string) (RunSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.running[id]
	return s, ok
}

// fakeNICs stands in for the host network: leases in 10.9.0.0/24, every
// call recorded, and what Sync got kept.
type fakeNICs struct {
	mu       sync.Mutex
	calls    []string
	leases   map[string]netip.Addr
	syncedSt netcfg.State
	synced   []lifecycle.Instance
}

func newFakeNICs() *fakeNICs { return &fakeNICs{leases: map[string]netip.Addr{}} }

func (n *fakeNICs) Attach(_ context.Context, in lifecycle.Instance) (hostnet.NIC, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "attach "+in.ID)
	ip, ok := n.leases[in.ID]
	if !ok {
		ip = netip.AddrFrom4([4]byte{10, 9, 0, byte(2 + len(n.leases))})
		n.leases[in.ID] = ip
	}
	return hostnet.NIC{Network: in.Network, Tap: "ivtap-" + in.ID, MAC: "02:49:00:01:00:02", IP: ip}, nil
}

func (n *fakeNICs) Detach(_ context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "detach "+id)
	return nil
}

func (n *fakeNICs) Release(_ context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "release "+id)
	delete(n.leases, id)
	return nil
}

func (n *fakeNICs) Lease(id string) (netcfg.Lease, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip, ok := n.leases[id]
	return netcfg.Lease{Instance: id, IP: ip}, ok
}

func (n *fakeNICs) Sync(_ context.Context, st netcfg.State, insts []lifecycle.Instance) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.syncedSt, n.synced = st, insts
	return nil
}

// take returns the calls since the last take.
func (n *fakeNICs) take() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := strings.Join(n.calls, "; ")
	n.calls = nil
	return s
}
