package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// recNICs records what the control plane asks of its NICs hook. Package
// hostnet is the real one (its tests cover the leases and, as root, the
// kernel side); here it checks when the control plane calls it.
type recNICs struct {
	mu       sync.Mutex
	calls    []string
	leases   map[string]netip.Addr
	failID   string
	synced   []lifecycle.Instance
	syncedSt netcfg.State
}

func (r *recNICs) log(format string, args ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recNICs) Attach(_ context.Context, in lifecycle.Instance) (hostnet.NIC, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("attach %s %s %v", in.ID, in.Network, in.SecurityGroups)
	if in.ID == r.failID {
		return hostnet.NIC{}, errors.New("bridge on fire")
	}
	ip, ok := r.leases[in.ID]
	if !ok {
		ip = netip.AddrFrom4([4]byte{10, 9, 0, byte(2 + len(r.leases))})
		r.leases[in.ID] = ip
	}
	return hostnet.NIC{Network: in.Network, Tap: "ivtap-1-" + ip.String(), MAC: "02:49:00:01:00:02", IP: ip}, nil
}

func (r *recNICs) Detach(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("detach %s", id)
	return nil
}

func (r *recNICs) Release(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("release %s", id)
	delete(r.leases, id)
	return nil
}

func (r *recNICs) Lease(id string) (netcfg.Lease, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ip, ok := r.leases[id]
	return netcfg.Lease{Instance: id, IP: ip}, ok
}

func (r *recNICs) Sync(_ context.Context, st netcfg.State, insts []lifecycle.Instance) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncedSt, r.synced = st, insts
	return nil
}

// take returns the calls recorded since the last take.
func (r *recNICs) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.calls, "; ")
	r.calls = nil
	return s
}

// TestNICWiring checks that an instance in a network gets its NIC attached
// before its VMM starts (the tap and MAC reach the Runner, the address
// shows in the API), that stop and a VMM's exit take the tap away while
// the address stays, that terminate releases the lease, and that a NIC
// that cannot be attached fails the start with the reason.
func TestNICWiring(t *testing.T) {
	rr := &recRunner{started: map[string]orchestrator.RunSpec{}}
	nics := &recNICs{leases: map[string]netip.Addr{}}
	var hooked atomic.Int32
	e := newEnv(t, rr, func(c *Config) {
		c.NICs = nics
		c.OnNetworkChange = func(string, netcfg.State) error { hooked.Add(1); return nil }
	})
	_, tok := e.tenant("acme")
	e.tinyImage("tiny")
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "web", "cidr": "10.9.0.0/24"}, nil)
	e.must(201, "POST", "/v1/security-groups", tok, `{"name":"ssh","ingress":[]}`, nil)
	e.must(400, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web"}, nil)

	var got []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"ssh"}}, &got)
	id := got[0].ID
	in := e.waitState(tok, id, "running")
	if fmt.Sprint(in.IPs) != "[10.9.0.2]" {
		t.Fatalf("running instance IPs %v", in.IPs)
	}
	rr.mu.Lock()
	spec := rr.started[id]
	rr.mu.Unlock()
	if len(spec.NICs) != 1 || spec.NICs[0].Tap != "ivtap-1-10.9.0.2" || spec.NICs[0].MAC == "" {
		t.Fatalf("run spec NICs %+v", spec.NICs)
	}
	if c := nics.take(); c != "attach "+id+" web [ssh]" {
		t.Fatalf("launch: calls %q", c)
	}

	e.must(200, "POST", "/v1/instances/"+id+"/stop", tok, `{"force":true}`, &in)
	if in.State != "stopped" || fmt.Sprint(in.IPs) != "[10.9.0.2]" {
		t.Fatalf("stopped instance %+v", in)
	}
	if c := nics.take(); c != "detach "+id {
		t.Fatalf("stop: calls %q", c)
	}
	e.must(200, "POST", "/v1/instances/"+id+"/start", tok, nil, nil)
	e.waitState(tok, id, "running")
	e.cp.VMMExited(id, "guest powered off", false)
	if in = e.waitState(tok, id, "stopped"); fmt.Sprint(in.IPs) != "[10.9.0.2]" {
		t.Fatalf("after the guest powered off: %+v", in)
	}
	if c := nics.take(); c != "attach "+id+" web [ssh]; detach "+id {
		t.Fatalf("start and guest poweroff: calls %q", c)
	}

	e.must(200, "DELETE", "/v1/instances/"+id, tok, nil, &in)
	if in.State != "terminated" || len(in.IPs) != 0 {
		t.Fatalf("terminated instance %+v", in)
	}
	if c := nics.take(); c != "release "+id {
		t.Fatalf("terminate: calls %q", c)
	}

	// A NIC that cannot be attached: the VMM is not started.
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano", "network": "web", "security_groups": []string{"ssh"}}, &got)
	e.waitState(tok, got[0].ID, "running")
	nics.mu.Lock()
	nics.failID = got[0].ID
	nics.mu.Unlock()
	e.must(200, "POST", "/v1/instances/"+got[0].ID+"/stop", tok, `{"force":true}`, nil)
	e.must(200, "POST", "/v1/instances/"+got[0].ID+"/start", tok, nil, nil)
	in = e.waitState(tok, got[0].ID, "stopped")
	if in.Reason != "vmm start failed: network web: bridge on fire" {
		t.Fatalf("failed attach: %+v", in)
	}

	// Sync hands over every network, group and instance.
	if err := e.cp.SyncNetwork(context.Background()); err != nil {
		t.Fatal(err)
	}
	nics.mu.Lock()
	defer nics.mu.Unlock()
	if len(nics.syncedSt.Networks) != 1 || len(nics.syncedSt.Groups) != 1 || len(nics.synced) != 2 {
		t.Fatalf("sync got %+v and %d instances", nics.syncedSt, len(nics.synced))
	}

	// A forward left by an instance that is gone (the appliance died
	// between a terminate's commit and its cleanup) is deleted at Sync,
	// without a network hook call before Sync: that would reach the host
	// before it knows which taps survived.
	stale := domain.PortForward{ID: "pf-stale", Tenant: "t", Instance: "i-gone", Network: "web", Proto: "tcp", PublicPort: 2222, Port: 22}
	if err := e.db.Update(func(tx *store.Tx) error { return tx.Create(store.PortForwards, stale.ID, stale) }); err != nil {
		t.Fatal(err)
	}
	hookedBefore := hooked.Load()
	nics.mu.Unlock()
	err := e.cp.SyncNetwork(context.Background())
	nics.mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if hooked := hooked.Load() - hookedBefore; hooked != 0 || len(nics.syncedSt.Forwards) != 0 {
		t.Fatalf("stale forward at sync: %d hook calls, synced forwards %+v", hooked, nics.syncedSt.Forwards)
	}
	if _, err := store.GetOne[domain.PortForward](e.db, store.PortForwards, stale.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stale forward still stored: %v", err)
	}
}
