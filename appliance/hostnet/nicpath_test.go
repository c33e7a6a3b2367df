package hostnet

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// nicApplier is a recApplier with a per-NIC path that records its calls
// and can be made to fail.
type nicApplier struct {
	recApplier
	nmu      sync.Mutex
	attached []netcfg.NIC
	detached []netcfg.NIC
	failNIC  error
}

func (a *nicApplier) AttachNIC(_ context.Context, c netcfg.NIC) error {
	a.nmu.Lock()
	defer a.nmu.Unlock()
	if a.failNIC != nil {
		return a.failNIC
	}
	a.attached = append(a.attached, c)
	return nil
}

func (a *nicApplier) DetachNIC(_ context.Context, c netcfg.NIC) error {
	a.nmu.Lock()
	defer a.nmu.Unlock()
	if a.failNIC != nil {
		return a.failNIC
	}
	a.detached = append(a.detached, c)
	return nil
}

// applies returns how many whole States were applied.
func (a *nicApplier) applies() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.applied)
}

// TestNICChangesTakeThePerNICPath: attach, detach and release of an
// instance change its NIC alone; an instance that a port forward follows,
// and a per-NIC change that fails, apply the whole State instead.
func TestNICChangesTakeThePerNICPath(t *testing.T) {
	ctx := context.Background()
	a := &nicApplier{}
	n, err := Open(Options{Dir: t.TempDir(), Apply: a, Base: netcfg.State{Uplink: netcfg.Uplink{Name: "eth0"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := st0
	st.Forwards = []netcfg.PortForward{{Proto: netcfg.ProtoTCP, PublicPort: 2222, Instance: "i-f", Network: "t1.web", Port: 22}}
	if err := n.Sync(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	full := a.applies()
	nic, err := n.Attach(ctx, inst("i-a", lifecycle.Pending))
	if err != nil {
		t.Fatal(err)
	}
	if a.applies() != full || len(a.attached) != 1 || a.attached[0].Instance != "i-a" || a.attached[0].IP != nic.IP {
		t.Fatalf("attach: %d whole States applied (want %d), per-NIC attaches %v", a.applies(), full, a.attached)
	}
	cur := n.State()
	if want := cur.TapName("i-a", "t1.web"); nic.Tap != want || want == "" {
		t.Fatalf("tap %q, want %q", nic.Tap, want)
	}
	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if a.applies() != full || len(a.detached) != 1 || a.detached[0].Instance != "i-a" {
		t.Fatalf("detach: %d whole States applied, per-NIC detaches %v", a.applies(), a.detached)
	}
	// The forwarded instance's NIC changes the NAT rules too.
	if _, err := n.Attach(ctx, inst("i-f", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	if a.applies() != full+1 || len(a.attached) != 1 {
		t.Fatalf("attach with a forward: %d whole States applied, per-NIC attaches %v", a.applies(), a.attached)
	}
	if got := a.last(t).Forwards; len(got) != 1 || got[0].Instance != "i-f" {
		t.Fatalf("forwards with i-f's tap: %v", got)
	}
	// A per-NIC path that fails: the whole State repairs.
	a.failNIC = errors.New("bridge gone")
	if _, err := n.Attach(ctx, inst("i-b", lifecycle.Pending)); err != nil {
		t.Fatal(err)
	}
	if a.applies() != full+2 || !a.last(t).NICs[0].IP.IsValid() || len(a.last(t).NICs) != 2 {
		t.Fatalf("after a failed per-NIC attach: %d whole States applied, last %+v", a.applies(), a.last(t).NICs)
	}
	a.failNIC = nil
	if err := n.Release(ctx, "i-b"); err != nil {
		t.Fatal(err)
	}
	if a.applies() != full+2 || len(a.detached) != 2 || a.detached[1].Instance != "i-b" {
		t.Fatalf("release: %d whole States applied, per-NIC detaches %v", a.applies(), a.detached)
	}
	if _, ok := n.Lease("i-b"); ok {
		t.Fatal("lease after release")
	}
}
