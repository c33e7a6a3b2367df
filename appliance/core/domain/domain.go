// Package domain is the state of the objects tenants make around their
// instances: networks, security groups, port forwards, public IPs and key
// pairs. It owns their storage, the transactions that change them, the
// allocators (network indexes, public addresses) and the rules that keep
// them consistent (netcfg's validation of the whole host state, no use of
// another tenant's objects, nothing deleted while an instance uses it).
//
// It knows nothing of HTTP: each method takes the caller (an
// auth.Principal) and returns objects or errors of apiv1's taxonomy, so
// that every front end (the native API, the EC2 endpoint, the web
// console) gets the same answers. Another tenant's object is NotFound,
// exactly like a missing one. The name says what it is: the domain model
// of the core, beside the orchestrator, which runs instances and calls it.
//
// Every change to networks, groups, forwards or public IPs is validated as
// part of the whole host state, committed, then handed to the NetworkHook;
// the domain never touches the kernel itself.
package domain

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// NetworkHook is called after a network, security group, port forward or
// public IP of a tenant changed, so the host network can be reconciled
// (netcfg.Reconcile) by whoever owns it.
type NetworkHook func(tenantID string, st netcfg.State) error

// Config is what New needs.
type Config struct {
	DB *store.DB
	// Life is the instances' state, read to check uses and targets.
	Life *lifecycle.Manager
	// OnNetworkChange, if set, is the NetworkHook.
	OnNetworkChange NetworkHook
	// Uplink says the host network has an uplink, so port forwards and
	// public IPs can work; without it they are refused.
	Uplink bool
	// ReservedPorts are public ports that stay the host's own (the API's):
	// no port forward may take them.
	ReservedPorts []uint16
	// HostListener, if set, names a service of the host that receives
	// proto on port from outside ("" for none; netcfg.HostListener asks
	// the kernel): no port forward may take its port.
	HostListener func(proto netcfg.Proto, port uint16) (string, error)
	// PublicIPs is the pool of extra uplink addresses instances may take
	// 1:1; empty means none are offered.
	PublicIPs []netip.Addr
	// HostNets are the host's own networks, which no tenant network may
	// overlap (netcfg.State.HostNets).
	HostNets []netip.Prefix
	// Now may be nil for time.Now.
	Now func() time.Time
}

// Domain is the tenants' network objects and key pairs.
type Domain struct {
	cfg Config
	mu  sync.Mutex // serialises network changes (changeNet)
}

// New returns the domain over cfg.DB.
func New(cfg Config) *Domain {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Domain{cfg: cfg}
}

// invalid returns an InvalidParameter error with a message.
func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", apiv1.InvalidParameter, fmt.Sprintf(format, a...))
}

// notFound returns the NotFound error naming what and key.
func notFound(what, key string) error { return fmt.Errorf("%s %q: %w", what, key, apiv1.NotFound) }

// ownerOnly refuses the admin token for creating tenant-owned objects:
// the admin owns none.
func ownerOnly(who auth.Principal, what string) error {
	if who.Admin {
		return invalid("the admin token owns no %s: use a tenant's token", what)
	}
	return nil
}

// listOwned returns the objects of bucket b that who may see (tenant
// names each one's owner).
func listOwned[T any](db *store.DB, b store.Bucket, who auth.Principal, tenant func(T) string) ([]T, error) {
	all, err := store.ListAll[T](db, b, "")
	if err != nil {
		return nil, err
	}
	out := []T{}
	for _, o := range all {
		if who.CanAccess(tenant(o)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// getOwned returns object key of bucket b if who may see it; else, as for
// a missing one, a NotFound error naming what and name (the caller's name
// for it).
func getOwned[T any](db *store.DB, b store.Bucket, key, name string, who auth.Principal, tenant func(T) string, what string) (T, error) {
	o, err := store.GetOne[T](db, b, key)
	if err != nil || !who.CanAccess(tenant(o)) {
		var zero T
		return zero, notFound(what, name)
	}
	return o, nil
}
