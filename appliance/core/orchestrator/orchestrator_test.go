package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// These tests drive the orchestrator directly, with a fake Runner and
// fake NICs and no HTTP: every boot is waited for with Wait, so nothing
// polls.

// TestBootRunsTheSpec: a launch in a network attaches the NIC, copies the
// root volume and starts the VMM with a spec that has them all; the
// instance runs with the NIC's address.
func TestBootRunsTheSpec(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	in := e.launch(e.image("tiny", true), true)
	if in.State != lifecycle.Running || fmt.Sprint(in.IPs) != "[10.9.0.2]" {
		t.Fatalf("launched %s %v (%s)", in.State, in.IPs, in.Reason)
	}
	spec, ok := r.spec(in.ID)
	if !ok || spec.VCPUs != 1 || spec.MemBytes != 64<<20 || spec.Cmdline != "console=ttyS0" ||
		len(spec.NICs) != 1 || spec.NICs[0].Tap != "ivtap-"+in.ID || spec.ConsoleLog != e.o.ConsolePath(in.ID) {
		t.Fatalf("run spec %+v", spec)
	}
	if b, err := os.ReadFile(spec.RootVolume); err != nil || len(b) != 1<<20 || string(b[:11]) != "boot sector" {
		t.Fatalf("root volume %s: %d bytes, %v", spec.RootVolume, len(b), err)
	}
	if c := nics.take(); c != "attach "+in.ID {
		t.Fatalf("NIC calls %q", c)
	}
	out, next, ok, err := e.o.Console(context.Background(), tenant, in.ID, 2, 100)
	if err != nil || !ok || string(out) != "hello from "+in.ID || next != int64(2+len(out)) {
		t.Fatalf("console %q %d %v %v", out, next, ok, err)
	}
}

// TestBootFailureStopsWithReason: a VMM that does not start leaves its
// instance stopped with the reason, and its tap is taken away again.
func TestBootFailureStopsWithReason(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	img := e.image("tiny", false)
	in := e.launch(img, true)
	ctx := context.Background()
	if _, err := e.o.Stop(ctx, tenant, in.ID, true); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.failID = in.ID
	r.mu.Unlock()
	nics.take()
	if _, err := e.o.Start(ctx, tenant, in.ID); err != nil {
		t.Fatal(err)
	}
	e.o.Wait()
	if in = e.get(in.ID); in.State != lifecycle.Stopped || in.Reason != "vmm start failed: jail: no such device" {
		t.Fatalf("after a failed start: %s (%s)", in.State, in.Reason)
	}
	if c := nics.take(); c != "attach "+in.ID+"; detach "+in.ID {
		t.Fatalf("NIC calls %q", c)
	}
}

// TestStopStartAndExits: stop stops the VMM (gracefully unless forced)
// and takes the tap while the address stays; a VMM that exits on its own
// stops the instance with its reason, a crash too.
func TestStopStartAndExits(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	in := e.launch(e.image("tiny", false), true)
	ctx := context.Background()
	r.take()
	nics.take()
	in, err := e.o.Stop(ctx, tenant, in.ID, false)
	if err != nil || in.State != lifecycle.Stopped || fmt.Sprint(in.IPs) != "[10.9.0.2]" {
		t.Fatalf("stop: %s %v %v", in.State, in.IPs, err)
	}
	if c := r.take() + " | " + nics.take(); c != "stop "+in.ID+" force=false | detach "+in.ID {
		t.Fatalf("stop calls %q", c)
	}
	for _, exit := range []struct {
		reason  string
		crashed bool
	}{{"guest powered off", false}, {"vmm crashed: signal 9", true}} {
		if in, err = e.o.Start(ctx, tenant, in.ID); err != nil || in.State != lifecycle.Pending {
			t.Fatalf("start: %s %v", in.State, err)
		}
		e.o.Wait()
		if in = e.get(in.ID); in.State != lifecycle.Running {
			t.Fatalf("after start: %s (%s)", in.State, in.Reason)
		}
		r.mu.Lock()
		delete(r.running, in.ID) // the VMM is gone: it exited
		r.mu.Unlock()
		e.o.VMMExited(in.ID, exit.reason, exit.crashed)
		if in = e.get(in.ID); in.State != lifecycle.Stopped || in.Reason != exit.reason {
			t.Fatalf("after %q: %s (%s)", exit.reason, in.State, in.Reason)
		}
	}
	// An exit nobody expects (the instance is stopped already) changes
	// nothing.
	e.o.VMMExited(in.ID, "late exit", false)
	if in = e.get(in.ID); in.Reason != "vmm crashed: signal 9" {
		t.Fatalf("a late exit changed the instance: %s", in.Reason)
	}
	// Another tenant finds nothing to stop.
	other := auth.Principal{TenantID: "t-2"}
	if _, err := e.o.Stop(ctx, other, in.ID, true); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("another tenant's stop: %v", err)
	}
}

// TestTerminateCleansUp: terminate stops the VMM and removes what the
// instance had: volume, console log, NIC and lease, port forwards, and
// the Runner's files.
func TestTerminateCleansUp(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	in := e.launch(e.image("tiny", true), true)
	spec, _ := r.spec(in.ID)
	os.WriteFile(spec.ConsoleLog, []byte("boot log"), 0o600)
	if _, err := e.dom.CreateForward(tenant, in.ID, "tcp", 2222, 22); err != nil {
		t.Fatal(err)
	}
	r.take()
	nics.take()
	in, err := e.o.Terminate(context.Background(), tenant, in.ID)
	if err != nil || in.State != lifecycle.Terminated || len(in.IPs) != 0 {
		t.Fatalf("terminate: %s %v %v", in.State, in.IPs, err)
	}
	if c := r.take() + " | " + nics.take(); c != "stop "+in.ID+" force=true; forget "+in.ID+" | detach "+in.ID+"; release "+in.ID {
		t.Fatalf("terminate calls %q", c)
	}
	for _, p := range []string{spec.RootVolume, spec.ConsoleLog} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after terminate: %v", p, err)
		}
	}
	if fwds, err := e.dom.Forwards(tenant); err != nil || len(fwds) != 0 {
		t.Fatalf("forwards after terminate: %+v %v", fwds, err)
	}
}

// put stores in as it is, the way a previous run of the appliance left it.
func (e *env) put(in lifecycle.Instance) {
	e.t.Helper()
	if err := e.db.Update(func(tx *store.Tx) error { return tx.Put(store.Instances, in.ID, in) }); err != nil {
		e.t.Fatal(err)
	}
}

// TestReconcileAfterRestart: after a restart, running instances whose VMM
// did not survive stop with ReasonRestartDue, for StartAgain to start
// them (restart_test.go); one that was shutting down is
// terminated and its files go; a VMM no instance accounts for is stopped
// and forgotten (a regression: such a VMM failed the whole reconcile with
// "instance not found"), and the VMM of a running instance is kept.
func TestReconcileAfterRestart(t *testing.T) {
	r := newFakeRunner()
	e := newEnv(t, r, nil)
	img := e.image("tiny", false)
	kept, lost, ending := e.launch(img, false), e.launch(img, false), e.launch(img, false)
	ending.State = lifecycle.ShuttingDown
	e.put(ending)
	os.MkdirAll(e.dir+"/consoles", 0o700)
	os.WriteFile(e.o.ConsolePath(ending.ID), []byte("log"), 0o600)
	r.take()
	changed, err := e.o.Reconcile(context.Background(), []string{kept.ID, "i-orphan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 {
		t.Fatalf("changed %+v", changed)
	}
	if in := e.get(kept.ID); in.State != lifecycle.Running {
		t.Fatalf("surviving VMM's instance: %s", in.State)
	}
	if in := e.get(lost.ID); in.State != lifecycle.Stopped || in.Reason != ReasonRestartDue {
		t.Fatalf("lost VMM's instance: %s (%s)", in.State, in.Reason)
	}
	if in := e.get(ending.ID); in.State != lifecycle.Terminated {
		t.Fatalf("shutting-down instance: %s", in.State)
	}
	if _, err := os.Stat(e.o.ConsolePath(ending.ID)); !os.IsNotExist(err) {
		t.Fatalf("console log of the terminated instance: %v", err)
	}
	if c := r.take(); c != "stop i-orphan force=true; forget i-orphan; forget "+ending.ID {
		t.Fatalf("runner calls %q", c)
	}
}

// TestReconcileGivesSurvivorItsIP: the appliance died after a VMM with a
// NIC started and before "vmm started" was committed (which records the
// NIC's address); the VMM survived, so the restart moves the instance to
// running, and it must show its lease's address as a start would have
// (a regression: the crash loop found it running with no address).
func TestReconcileGivesSurvivorItsIP(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	in := e.launch(e.image("tiny", false), true)
	if in.State != lifecycle.Running || len(in.IPs) != 1 {
		t.Fatalf("launched: %s %v", in.State, in.IPs)
	}
	want := in.IPs
	// As the killed appliance left it: the VMM runs (and its lease is
	// taken), the commit, with its meter start, is lost.
	in.State, in.IPs, in.Reason = lifecycle.Pending, nil, ""
	err := e.db.Update(func(tx *store.Tx) error {
		if err := metering.CloseAtCheckpoint(tx, in.ID); err != nil {
			return err
		}
		return tx.Put(store.Instances, in.ID, in)
	})
	if err != nil {
		t.Fatal(err)
	}
	changed, err := e.o.Reconcile(context.Background(), []string{in.ID})
	if err != nil || len(changed) != 1 {
		t.Fatalf("reconcile: %+v %v", changed, err)
	}
	got := e.get(in.ID)
	if got.State != lifecycle.Running || got.Reason != lifecycle.SurvivedReason || !slices.Equal(got.IPs, want) {
		t.Fatalf("survivor: %s (%s) IPs %v, want running with %v", got.State, got.Reason, got.IPs, want)
	}
	if !slices.Equal(changed[0].IPs, want) {
		t.Fatalf("reconcile reported IPs %v, want %v", changed[0].IPs, want)
	}
}

// TestSyncNetworkAtStart: the start-up sync hands the host network every
// network, group and instance, and drops the forwards of instances that
// are gone in the same transaction, without a hook call before Sync.
func TestSyncNetworkAtStart(t *testing.T) {
	r, nics := newFakeRunner(), newFakeNICs()
	e := newEnv(t, r, nics)
	e.network()
	in := e.launch(e.image("tiny", false), true)
	if _, err := e.dom.CreateForward(tenant, in.ID, "tcp", 2222, 22); err != nil {
		t.Fatal(err)
	}
	stale := domain.PortForward{ID: "pf-stale", Tenant: tenant.TenantID, Instance: "i-gone", Network: "web", Proto: "tcp", PublicPort: 2223, Port: 22}
	if err := e.db.Update(func(tx *store.Tx) error { return tx.Create(store.PortForwards, stale.ID, stale) }); err != nil {
		t.Fatal(err)
	}
	before := e.hooked.Load()
	if err := e.o.SyncNetwork(context.Background()); err != nil {
		t.Fatal(err)
	}
	nics.mu.Lock()
	st, insts := nics.syncedSt, nics.synced
	nics.mu.Unlock()
	if len(st.Networks) != 1 || len(st.Groups) != 1 || len(insts) != 1 || len(st.Forwards) != 1 || st.Forwards[0].Instance != in.ID {
		t.Fatalf("sync got %+v and %d instances", st, len(insts))
	}
	if e.hooked.Load() != before {
		t.Fatal("the network hook was called before Sync")
	}
	if _, err := store.GetOne[domain.PortForward](e.db, store.PortForwards, stale.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stale forward still stored: %v", err)
	}
}

// TestNoRunnerStaysPending: without a Runner instances stay pending with
// the reason, nothing pretends to run, and the console is unavailable.
func TestNoRunnerStaysPending(t *testing.T) {
	e := newEnv(t, nil, nil)
	in := e.launch(e.image("tiny", false), false)
	if in.State != lifecycle.Pending || in.Reason != NoHypervisor {
		t.Fatalf("launched %s (%s)", in.State, in.Reason)
	}
	if _, _, ok, err := e.o.Console(context.Background(), tenant, in.ID, 0, 10); ok || err != nil {
		t.Fatalf("console without a runner: %v %v", ok, err)
	}
	if _, err := e.o.Reboot(context.Background(), tenant, in.ID); !errors.Is(err, apiv1.IncorrectState) {
		t.Fatalf("reboot of a pending instance: %v", err)
	}
	if _, err := e.o.Launch(auth.Principal{Admin: true}, LaunchSpec{Image: "tiny", Type: "nano", Count: 1}); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("admin launch: %v", err)
	}
}
