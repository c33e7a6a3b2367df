package orchestrator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// TestInstanceWaitWakesOnTheChange: a wait while pending ends when the
// VMM's start is stored as running, not at its deadline; a wait for a
// state the instance is not in answers at once; a wait that ends with
// the instance unchanged answers it as it is; another tenant's instance
// is not found; a client that goes away ends its wait.
func TestInstanceWaitWakesOnTheChange(t *testing.T) {
	e, id, released := launchGated(t)
	ctx := context.Background()

	if in, err := e.o.InstanceWait(ctx, tenant, id, lifecycle.Pending, time.Millisecond); err != nil || in.State != lifecycle.Pending {
		t.Fatalf("wait that ends while pending = %s, %v; want pending", in.State, err)
	}
	if in, err := e.o.InstanceWait(ctx, tenant, id, lifecycle.Running, time.Hour); err != nil || in.State != lifecycle.Pending {
		t.Fatalf("wait while running of a pending instance = %s, %v; want pending at once", in.State, err)
	}
	other := auth.Principal{TenantID: "t-2", TokenID: "k-2"}
	if _, err := e.o.InstanceWait(ctx, other, id, lifecycle.Pending, time.Hour); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("another tenant's wait: %v, want NotFound", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.o.InstanceWait(gone, tenant, id, lifecycle.Pending, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait of a client gone: %v, want canceled", err)
	}

	// The wait is capped at MaxInstanceWait, so a wake that did not come
	// would answer pending after 30 s; the test's deadline is below it.
	type result struct {
		in  lifecycle.Instance
		err error
	}
	done := make(chan result, 1)
	go func() {
		in, err := e.o.InstanceWait(ctx, tenant, id, lifecycle.Pending, time.Hour)
		done <- result{in, err}
	}()
	released()
	select {
	case got := <-done:
		if got.err != nil || got.in.State != lifecycle.Running {
			t.Fatalf("wait while pending = %s (%s), %v; want running", got.in.State, got.in.Reason, got.err)
		}
	case <-time.After(MaxInstanceWait / 2):
		t.Fatal("the wait did not end when the instance ran")
	}
}

// TestLongPollsBoundedPerTenant: a tenant with MaxWaitsPerTenant waits
// under way gets its describe and console answers at once instead of
// waiting (its running instance stays running and prints nothing, so
// either would wait its hour); the admin still may wait, and the tenant
// may again once one of its waits ends.
func TestLongPollsBoundedPerTenant(t *testing.T) {
	e := newEnv(t, newEchoRunner(), nil)
	id := e.launch(e.image("tiny", false), false).ID
	for range MaxWaitsPerTenant {
		if !e.o.waits.enter(tenant.TenantID) {
			t.Fatal("a wait under the bound was refused")
		}
	}
	ctx := context.Background()
	answered := func(f func()) bool {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(MaxInstanceWait / 2):
			return false
		}
	}
	if !answered(func() { e.o.InstanceWait(ctx, tenant, id, lifecycle.Running, time.Hour) }) {
		t.Fatal("a describe beyond the tenant's bound waited")
	}
	if !answered(func() { e.o.ConsoleWait(ctx, tenant, id, 0, 100, time.Hour) }) {
		t.Fatal("a console read beyond the tenant's bound waited")
	}
	admin := auth.Principal{Admin: true, TokenID: "k-admin"}
	wait, done := e.o.admit(admin, time.Hour)
	done()
	if wait != time.Hour {
		t.Fatalf("the admin is admitted %v, want to wait", wait)
	}
	e.o.waits.leave(tenant.TenantID)
	wait, done = e.o.admit(tenant, time.Hour)
	defer done()
	if wait != time.Hour {
		t.Fatalf("after one wait ended the tenant is admitted %v, want to wait", wait)
	}
}
