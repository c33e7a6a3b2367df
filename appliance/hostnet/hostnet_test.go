package hostnet

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// recApplier records the states applied, checking each with netcfg's
// Validate as Reconcile would. The kernel side is covered by the
// privileged test (kernel_test.go) with the real Kernel.
type recApplier struct {
	mu      sync.Mutex
	applied []netcfg.State
	fail    error
	// check runs on each state before it is recorded.
	check func(netcfg.State)
}

func (r *recApplier) Apply(_ context.Context, st netcfg.State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if err := st.Validate(); err != nil {
		return err
	}
	if r.check != nil {
		r.check(st)
	}
	r.applied = append(r.applied, st)
	return nil
}

func (r *recApplier) last(t *testing.T) netcfg.State {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		t.Fatal("nothing applied")
	}
	return r.applied[len(r.applied)-1]
}

var (
	web = netcfg.Network{Name: "t1.web", Tenant: "t1", Index: 3, CIDR: netip.MustParsePrefix("10.30.0.0/24")}
	ssh = netcfg.SecurityGroup{Name: "t1.ssh", Tenant: "t1", Ingress: []netcfg.Rule{{Proto: netcfg.ProtoTCP, FromPort: 22, ToPort: 22, CIDR: netip.MustParsePrefix("0.0.0.0/0")}}}
	st0 = netcfg.State{Networks: []netcfg.Network{web}, Groups: []netcfg.SecurityGroup{ssh}}
)

func inst(id string, s lifecycle.State) lifecycle.Instance {
	return lifecycle.Instance{ID: id, TenantID: "t1", State: s, Network: "web", SecurityGroups: []string{"ssh"}}
}

func open(t *testing.T, dir string, a Applier) *Net {
	t.Helper()
	n, err := Open(Options{Dir: dir, Apply: a})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// synced returns a Net on a fresh directory, synced to st0 with no
// instances.
func synced(t *testing.T) (context.Context, string, *recApplier, *Net) {
	t.Helper()
	dir := t.TempDir()
	rec := &recApplier{}
	n := open(t, dir, rec)
	if err := n.Sync(context.Background(), st0, nil); err != nil {
		t.Fatal(err)
	}
	return context.Background(), dir, rec, n
}

// TestLeaseLifecycle follows one instance: the lease is saved before the
// NIC reaches the kernel, survives a detach and a reopen (an appliance
// restart), and is freed by Release.
func TestLeaseLifecycle(t *testing.T) {
	ctx, dir, rec, n := synced(t)
	rec.check = func(st netcfg.State) {
		for _, c := range st.NICs {
			p, err := netcfg.LoadPool(filepath.Join(dir, c.Network+".json"))
			if err != nil {
				t.Errorf("NIC %s applied before its lease was saved: %v", c.Instance, err)
			} else if l, ok := p.Lookup(c.Instance); !ok || l.IP != c.IP {
				t.Errorf("NIC %s applied with %s, saved lease %+v", c.Instance, c.IP, l)
			}
		}
	}
	nic, err := n.Attach(ctx, inst("i-a", lifecycle.Pending))
	if err != nil {
		t.Fatal(err)
	}
	if nic.IP != netip.MustParseAddr("10.30.0.2") || nic.MAC != "02:49:00:03:00:02" || nic.Tap != "ivtap-3-2" || nic.Network != "web" {
		t.Fatalf("nic %+v", nic)
	}
	st := rec.last(t)
	if len(st.NICs) != 1 || st.NICs[0].Instance != "i-a" || st.NICs[0].Groups[0] != "t1.ssh" || st.TapName("i-a", "t1.web") != nic.Tap {
		t.Fatalf("applied %+v", st.NICs)
	}
	nic2, err := n.Attach(ctx, inst("i-b", lifecycle.Pending))
	if err != nil || nic2.IP != netip.MustParseAddr("10.30.0.3") || nic2.Tap != "ivtap-3-3" {
		t.Fatalf("second nic %+v %v", nic2, err)
	}
	if again, err := n.Attach(ctx, inst("i-a", lifecycle.Running)); err != nil || again != nic {
		t.Fatalf("attach again: %+v %v", again, err)
	}
	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if st := rec.last(t); len(st.NICs) != 1 || st.NICs[0].Instance != "i-b" {
		t.Fatalf("after detach %+v", st.NICs)
	}
	if l, ok := n.Lease("i-a"); !ok || l.IP != nic.IP {
		t.Fatalf("detach lost the lease: %+v", l)
	}

	// Restart: the leases come back from disk; a new instance does not get
	// a held address.
	n = open(t, dir, rec)
	if err := n.Sync(ctx, st0, []lifecycle.Instance{inst("i-a", lifecycle.Stopped), inst("i-b", lifecycle.Running)}); err != nil {
		t.Fatal(err)
	}
	if st := rec.last(t); len(st.NICs) != 1 || st.NICs[0].Instance != "i-b" {
		t.Fatalf("after restart %+v", st.NICs)
	}
	nic3, err := n.Attach(ctx, inst("i-c", lifecycle.Pending))
	if err != nil || nic3.IP != netip.MustParseAddr("10.30.0.4") {
		t.Fatalf("third nic %+v %v", nic3, err)
	}
	if again, err := n.Attach(ctx, inst("i-a", lifecycle.Pending)); err != nil || again != nic {
		t.Fatalf("restart of a stopped instance: %+v %v (want %+v)", again, err, nic)
	}

	if err := n.Release(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Lease("i-a"); ok {
		t.Fatal("released lease still held")
	}
	p, err := netcfg.LoadPool(filepath.Join(dir, "t1.web.json"))
	if err != nil || len(p.Leases) != 2 {
		t.Fatalf("pool on disk after release: %+v %v", p, err)
	}
	if st := rec.last(t); st.TapName("i-a", "t1.web") != "" {
		t.Fatalf("released NIC still applied: %+v", st.NICs)
	}
}

// TestSyncFreesStaleLeases: leases of instances that are gone (a crash
// after the lease was saved) or terminated are freed at start, and only
// instances that may have a VMM keep a tap.
func TestSyncFreesStaleLeases(t *testing.T) {
	ctx, dir, rec, n := synced(t)
	for _, id := range []string{"i-gone", "i-term", "i-run", "i-stop", "i-stopping"} {
		if _, err := n.Attach(ctx, inst(id, lifecycle.Pending)); err != nil {
			t.Fatal(err)
		}
	}
	n = open(t, dir, rec)
	insts := []lifecycle.Instance{inst("i-term", lifecycle.Terminated), inst("i-run", lifecycle.Running),
		inst("i-stop", lifecycle.Stopped), inst("i-stopping", lifecycle.Stopping), inst("i-new", lifecycle.Running)}
	if err := n.Sync(ctx, st0, insts); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"i-gone": false, "i-term": false, "i-run": true, "i-stop": true, "i-stopping": true, "i-new": false} {
		if _, ok := n.Lease(id); ok != want {
			t.Errorf("lease of %s: %v, want %v", id, ok, want)
		}
	}
	st := rec.last(t)
	var tapped []string
	for _, c := range st.NICs {
		tapped = append(tapped, c.Instance)
	}
	if len(tapped) != 2 || tapped[0] != "i-run" || tapped[1] != "i-stopping" {
		t.Fatalf("taps after sync: %v", tapped)
	}
	p, err := netcfg.LoadPool(filepath.Join(dir, "t1.web.json"))
	if err != nil || len(p.Leases) != 3 {
		t.Fatalf("pool on disk: %+v %v", p, err)
	}
}

// TestNetworkChanges: a deleted network's pool file goes, a group change
// is applied with the NICs, and a failed apply leaves no NIC behind.
func TestNetworkChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rec := &recApplier{}
	n := open(t, dir, rec)
	if err := n.NetworkChanged("t1", st0); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, inst("i-a", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, lifecycle.Instance{ID: "i-x", Network: "nope", SecurityGroups: []string{"ssh"}}); err == nil {
		t.Fatal("attach to an unknown network worked")
	}
	st := st0
	st.Groups = []netcfg.SecurityGroup{{Name: "t1.ssh", Tenant: "t1"}}
	if err := n.NetworkChanged("t1", st); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t); len(got.NICs) != 1 || len(got.Groups[0].Ingress) != 0 {
		t.Fatalf("group change applied as %+v", got)
	}
	if err := n.Release(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if err := n.NetworkChanged("t1", netcfg.State{Groups: st.Groups}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t1.web.json")); !os.IsNotExist(err) {
		t.Fatalf("pool of a deleted network left: %v", err)
	}

	if err := n.NetworkChanged("t1", st0); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.fail = errors.New("netlink: operation not permitted")
	rec.mu.Unlock()
	if _, err := n.Attach(ctx, inst("i-b", lifecycle.Pending)); err == nil {
		t.Fatal("attach survived a failed apply")
	}
	if st := n.State(); len(st.NICs) != 0 {
		t.Fatalf("failed attach left NICs %+v", st.NICs)
	}
}

// TestOpenRefusesCorruptPool: a pool file that does not parse is an
// error, not an empty pool (which would hand out held addresses again).
func TestOpenRefusesCorruptPool(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t1.web.json"), []byte("{"), 0o600)
	if _, err := Open(Options{Dir: dir, Apply: &recApplier{}}); err == nil {
		t.Fatal("corrupt pool accepted")
	}
}

// TestOpenRemovesInterruptedSaves: the temporary file of a pool save a
// crash cut off is removed at start, and the pools and other files stay
// (a regression: the kill -9 loop found them piling up in net/).
func TestOpenRemovesInterruptedSaves(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(Options{Dir: dir, Apply: &recApplier{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Sync(context.Background(), st0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(context.Background(), inst("i-a", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".t1.web.json.tmp-12345")
	os.WriteFile(tmp, []byte(`{"net`), 0o600)
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, nil, 0o600)
	n2, err := Open(Options{Dir: dir, Apply: &recApplier{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("interrupted save left after Open: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("Open removed another file: %v", err)
	}
	if _, ok := n2.Lease("i-a"); !ok {
		t.Fatal("the pool's lease is gone after Open")
	}
}

// TestForwardsFollowTaps: a port forward or public IP reaches the kernel
// only while its instance has a tap (a stopped instance's forward waits), and only with an
// uplink; the applied states pass netcfg's validation, which refuses a
// forward to a NIC it does not know.
func TestForwardsFollowTaps(t *testing.T) {
	ctx := context.Background()
	rec := &recApplier{}
	n, err := Open(Options{Dir: t.TempDir(), Apply: rec, Base: netcfg.State{Uplink: netcfg.Uplink{Name: "eth0"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := st0
	st.Forwards = []netcfg.PortForward{
		{Proto: netcfg.ProtoTCP, PublicPort: 2222, Instance: "i-a", Network: "t1.web", Port: 22},
		{Proto: netcfg.ProtoUDP, PublicPort: 5353, Instance: "i-b", Network: "t1.web", Port: 53},
	}
	st.PublicIPs = []netcfg.PublicIP{
		{Address: netip.MustParseAddr("203.0.113.10"), Instance: "i-a", Network: "t1.web"},
		{Address: netip.MustParseAddr("203.0.113.11"), Instance: "i-b", Network: "t1.web"},
	}
	if err := n.Sync(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t); len(got.Forwards)+len(got.PublicIPs) != 0 {
		t.Fatalf("forwards and public IPs without any tap: %v %v", got.Forwards, got.PublicIPs)
	}
	if _, err := n.Attach(ctx, inst("i-a", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t).Forwards; len(got) != 1 || got[0].Instance != "i-a" || got[0].PublicPort != 2222 {
		t.Fatalf("forwards with i-a's tap: %v", got)
	}
	if got := rec.last(t).PublicIPs; len(got) != 1 || got[0].Instance != "i-a" {
		t.Fatalf("public IPs with i-a's tap: %v", got)
	}
	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t); len(got.Forwards)+len(got.PublicIPs) != 0 {
		t.Fatalf("after i-a's tap went: %v %v", got.Forwards, got.PublicIPs)
	}

	// Without an uplink, no forward reaches the kernel.
	rec2 := &recApplier{}
	n2, err := Open(Options{Dir: t.TempDir(), Apply: rec2})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Sync(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Attach(ctx, inst("i-a", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	if got := rec2.last(t); len(got.Forwards)+len(got.PublicIPs) != 0 {
		t.Fatalf("without an uplink: %v %v", got.Forwards, got.PublicIPs)
	}
}

// TestOtherNetworkRefusedDoesNotBlock: when the kernel refuses another
// tenant's network, an instance in a network that converged still gets
// its NIC, and a change by a tenant who does not own the refused network
// succeeds; an instance in the refused network fails with the reason
// (issue 10, finding 4).
func TestOtherNetworkRefusedDoesNotBlock(t *testing.T) {
	ctx, _, rec, n := synced(t)
	other := netcfg.Network{Name: "t2.other", Tenant: "t2", Index: 4, CIDR: netip.MustParsePrefix("10.40.0.0/24")}
	st := st0
	st.Networks = append([]netcfg.Network{other}, st0.Networks...)
	if err := n.NetworkChanged("t2", st); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.fail = &netcfg.NetworkError{Network: "t2.other", Err: errors.New("kernel says no")}
	rec.mu.Unlock()
	if _, err := n.Attach(ctx, inst("i-a", lifecycle.Pending)); err != nil {
		t.Fatalf("attach in a network that converged: %v", err)
	}
	if err := n.NetworkChanged("t1", st); err != nil {
		t.Fatalf("t1's change failed for t2's network: %v", err)
	}
	if err := n.NetworkChanged("t2", st); err == nil {
		t.Fatal("t2's change did not report its refused network")
	}
	rec.mu.Lock()
	rec.fail = &netcfg.NetworkError{Network: "t1.web", Err: errors.New("kernel says no")}
	rec.mu.Unlock()
	if _, err := n.Attach(ctx, inst("i-b", lifecycle.Pending)); err == nil {
		t.Fatal("attach in the refused network succeeded")
	}
}
