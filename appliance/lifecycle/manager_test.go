package lifecycle

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// fakeClock is a settable, race-safe clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Set(sec float64) {
	c.mu.Lock()
	c.t = t0.Add(time.Duration(sec * float64(time.Second)))
	c.mu.Unlock()
}

type fixture struct {
	db  *store.DB
	clk *fakeClock
	m   *Manager
}

func newFixture(t *testing.T, host types.Host) *fixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &fakeClock{t: t0}
	return &fixture{db: db, clk: clk, m: NewManager(db, clk, host)}
}

var bigHost = types.Host{CPUs: 64, MemBytes: 64 * types.GiB}

func (f *fixture) launch(t *testing.T, typ string, n int) []Instance {
	t.Helper()
	insts, err := f.m.Launch(LaunchSpec{TenantID: "t-a", Image: "tiny", Type: typ, Count: n})
	if err != nil {
		t.Fatal(err)
	}
	return insts
}

func (f *fixture) apply(t *testing.T, id string, e Event, reason string, want State) Instance {
	t.Helper()
	inst, err := f.m.Apply(context.Background(), id, e, Change{Reason: reason})
	if err != nil || inst.State != want || inst.Reason != reason {
		t.Fatalf("%s: %+v, %v; want %s", e, inst, err, want)
	}
	return inst
}

func (f *fixture) usage(t *testing.T, id string) metering.Totals {
	t.Helper()
	r, err := metering.NewMeter(f.db, f.clk.Now).Usage(t0.Add(-time.Hour), t0.Add(24*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tu := range r.Tenants {
		for _, iu := range tu.Instances {
			if iu.InstanceID == id {
				return iu.Total
			}
		}
	}
	return metering.Totals{}
}

func TestFullLifecycle(t *testing.T) {
	f := newFixture(t, bigHost)
	inst := f.launch(t, "small", 1)[0]
	if inst.State != Pending || inst.Type.Name != "small" || !inst.LaunchTime.Equal(t0) {
		t.Fatalf("launched %+v", inst)
	}
	id := inst.ID
	f.clk.Set(2)
	f.apply(t, id, Booted, "vmm ready", Running)
	f.clk.Set(62)
	f.apply(t, id, Stop, "user request", Stopping)
	f.clk.Set(63)
	f.apply(t, id, Halted, "guest halted", Stopped)
	if u := f.usage(t, id); u.RunningMillis != 60000 {
		t.Fatalf("usage after first run = %+v, want 60 s", u)
	}
	_, err := f.m.Apply(context.Background(), id, Reboot, Change{})
	if err == nil || err.Error() != "reboot "+id+": reboot requires state running, instance is stopped" {
		t.Fatalf("reboot while stopped: %v", err)
	}
	medium, _ := types.LookupBuiltin("medium")
	resized, err := f.m.Apply(context.Background(), id, Resize, Change{Reason: "resize", Type: &medium})
	if err != nil || resized.Type.Name != "medium" || resized.State != Stopped {
		t.Fatalf("resize: %+v, %v", resized, err)
	}
	f.clk.Set(100)
	started := f.apply(t, id, Start, "user request", Pending)
	if !started.LaunchTime.Equal(t0.Add(100*time.Second)) || !started.CreateTime.Equal(t0) {
		t.Fatalf("launch/create time after start: %+v", started)
	}
	_, err = f.m.Apply(context.Background(), id, Resize, Change{Type: &medium})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("resize while pending: %v", err)
	}
	f.clk.Set(101)
	f.apply(t, id, Booted, "vmm ready", Running)
	f.clk.Set(131)
	f.apply(t, id, Terminate, "user request", ShuttingDown)
	f.clk.Set(132)
	term := f.apply(t, id, Cleaned, "volume deleted", Terminated)
	u := f.usage(t, id)
	want := metering.Totals{RunningMillis: 90000, VCPUMillis: 60000 + 30000*2, MiBMillis: 60000*512 + 30000*1024}
	if u != want {
		t.Fatalf("usage = %+v, want %+v", u, want)
	}
	// A repeated terminate is accepted and changes nothing.
	again, err := f.m.Apply(context.Background(), id, Terminate, Change{Reason: "again"})
	if err != nil || again.Generation != term.Generation || again.Reason != "volume deleted" {
		t.Fatalf("repeat terminate: %+v, %v", again, err)
	}
	// Visible for an hour, then forgotten.
	f.clk.Set(132 + 3599.999)
	if l, _ := f.m.List("t-a"); len(l) != 1 {
		t.Fatalf("terminated instance hidden too early: %v", l)
	}
	if gone, err := f.m.Sweep(context.Background()); err != nil || len(gone) != 0 {
		t.Fatalf("early sweep: %v %v", gone, err)
	}
	f.clk.Set(132 + 3600)
	if l, _ := f.m.List("t-a"); len(l) != 0 {
		t.Fatalf("expired instance listed: %v", l)
	}
	if gone, err := f.m.Sweep(context.Background()); err != nil || len(gone) != 1 {
		t.Fatalf("sweep: %v %v", gone, err)
	}
	if _, err := f.m.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after sweep: %v", err)
	}
	if u := f.usage(t, id); u != want {
		t.Fatalf("usage lost by sweep: %+v", u)
	}
}

func TestCapacityAllOrNothing(t *testing.T) {
	f := newFixture(t, types.Host{CPUs: 2, MemBytes: types.GiB})
	a := f.launch(t, "small", 2) // 2 vCPUs, 1 GiB: host full
	_, err := f.m.Launch(LaunchSpec{TenantID: "t-a", Image: "tiny", Type: "nano", Count: 1})
	if !errors.Is(err, types.ErrInsufficientCapacity) {
		t.Fatalf("launch on a full host: %v", err)
	}
	f.apply(t, a[0].ID, Crashed, "vmm exited", Stopped)
	// Three would need 3 vCPUs: none of them may be created.
	if _, err := f.m.Launch(LaunchSpec{TenantID: "t-a", Image: "tiny", Type: "nano", Count: 3}); !errors.Is(err, types.ErrInsufficientCapacity) {
		t.Fatalf("launch 3: %v", err)
	}
	if l, _ := f.m.List(""); len(l) != 2 {
		t.Fatalf("half-created launch left %d instances", len(l))
	}
	f.launch(t, "nano", 1) // takes the freed vCPU
	_, err = f.m.Apply(context.Background(), a[0].ID, Start, Change{})
	var ic *types.InsufficientCapacity
	if !errors.As(err, &ic) || ic.Resource != "vcpu" {
		t.Fatalf("start on a full host: %v", err)
	}
	if got, _ := f.m.Get(a[0].ID); got.State != Stopped {
		t.Fatalf("failed start changed state to %s", got.State)
	}
	for _, bad := range []LaunchSpec{
		{TenantID: "t-a", Image: "tiny", Type: "nano", Count: 0},
		{TenantID: "t-a", Image: "tiny", Type: "nano", Count: MaxLaunchCount + 1},
		{TenantID: "t-a", Image: "tiny", Type: "nano", Count: 1, UserData: make([]byte, MaxUserData+1)},
		{TenantID: "t-a", Image: "tiny", Type: "huge", Count: 1},
		{Image: "tiny", Type: "nano", Count: 1},
	} {
		if _, err := f.m.Launch(bad); err == nil {
			t.Errorf("launch %+v accepted", bad)
		}
	}
}

func TestEffectErrorStoresNothing(t *testing.T) {
	f := newFixture(t, bigHost)
	id := f.launch(t, "nano", 1)[0].ID
	boom := errors.New("vmm refused")
	_, err := f.m.Apply(context.Background(), id, Booted, Change{Effect: func(Instance, *Instance) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("apply: %v", err)
	}
	if got, _ := f.m.Get(id); got.State != Pending || got.Generation != 1 {
		t.Fatalf("aborted transition stored: %+v", got)
	}
	got, err := f.m.Apply(context.Background(), id, Booted, Change{Reason: "up", Effect: func(_ Instance, n *Instance) error {
		n.IPs = []string{"10.0.0.2"}
		n.State = Terminated // ignored
		return nil
	}})
	if err != nil || got.State != Running || len(got.IPs) != 1 {
		t.Fatalf("effect edits: %+v, %v", got, err)
	}
}

func TestBusyInstanceIsRefused(t *testing.T) {
	f := newFixture(t, bigHost)
	id := f.launch(t, "nano", 1)[0].ID
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := f.m.Apply(context.Background(), id, Booted, Change{Effect: func(Instance, *Instance) error {
			close(entered)
			<-release
			return nil
		}})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.m.Apply(ctx, id, Stop, Change{})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("apply on a busy instance: %v, want busy conflict", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Apply(context.Background(), id, Stop, Change{}); err != nil {
		t.Fatalf("stop after release: %v", err)
	}
}
