// Package controlplane composes the appliance's foundations (store, auth,
// instance types, lifecycle, metering, images, networks) into the
// management API of issue 5, served through package api's router.
//
// Every route is in one table (routes.go) that says who may call it; the
// router, the authentication wrapper and the OpenAPI document are all
// generated from that table, so they cannot drift. Every request needs
// "Authorization: Bearer <token>" (401 without); every object is checked
// against the caller's tenant and another tenant's object is a 404.
//
// Instances are run by a Runner (the supervisor, one jailed "ironvisor vmm
// run" per instance). Without a Runner nothing is pretended: launches stay
// pending with the reason "no hypervisor on this host".
package controlplane

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// NoHypervisor is the reason recorded on instances that cannot run because
// the appliance has no Runner.
const NoHypervisor = "no hypervisor on this host"

// RunSpec is what a Runner needs to start one instance's VMM.
type RunSpec struct {
	ID     string
	Kernel string // path of the kernel file
	Initrd string // path, or empty
	// RootVolume is the instance's own copy of the image's disk, or empty.
	RootVolume string
	// ConsoleLog is where the serial console is logged.
	ConsoleLog string
	Cmdline    string
	VCPUs      int
	MemBytes   uint64
	UserData   []byte
	// NICs are the instance's network interfaces, each a tap already on
	// its network's bridge; empty when the instance is in no network.
	NICs []NIC
}

// NIC is one network interface of a running instance, as the host network
// (package hostnet) set it up: the tap the VMM attaches to, the guest's
// MAC and the address the network's DHCP server hands that MAC.
type NIC struct {
	Network string
	Tap     string
	MAC     string
	IP      netip.Addr
}

// NICs puts instances on the host network; package hostnet implements it
// over netcfg. The control plane calls Attach before each VMM start (and
// restart), Detach when a VMM ended or was stopped, Release when the
// instance terminates, and Sync once at appliance start.
type NICs interface {
	// Attach gives instance in, whose Network is set, its NIC: a lease (IP
	// and MAC), allocated once and kept until Release, and a tap on the
	// network's bridge carrying the instance's security groups. It is
	// idempotent.
	Attach(ctx context.Context, in lifecycle.Instance) (NIC, error)
	// Detach takes the tap of instance id away, keeping its lease; it
	// does nothing for an instance without a tap.
	Detach(ctx context.Context, id string) error
	// Release removes the NIC of instance id and frees its lease.
	Release(ctx context.Context, id string) error
	// Sync converges the host network once at start, after the VMMs of a
	// previous run were adopted: st holds every network and group, and
	// insts every instance; those that may have a VMM keep their taps,
	// leases of instances that are gone or terminated are freed, and
	// links the state does not want are removed.
	Sync(ctx context.Context, st netcfg.State, insts []lifecycle.Instance) error
}

// Runner starts and stops instance VMMs; the supervisor is one.
type Runner interface {
	// Start starts the VMM of spec.ID and returns once it runs.
	Start(ctx context.Context, spec RunSpec) error
	// Stop stops the VMM of id, gracefully unless force.
	Stop(ctx context.Context, id string, force bool) error
	// Console returns up to max bytes of serial output from offset off and
	// the offset after them.
	Console(ctx context.Context, id string, off int64, max int) ([]byte, int64, error)
}

// Forgetter is optionally implemented by a Runner that keeps files about
// stopped instances; Forget is called when an instance terminates.
type Forgetter interface {
	Forget(id string) error
}

// NetworkHook is called after a network or security group of a tenant
// changed, so the host network can be reconciled (netcfg.Reconcile) by
// whoever owns it. The API never touches the kernel itself.
type NetworkHook func(tenantID string, st netcfg.State) error

// Config is what New composes.
type Config struct {
	DB      *store.DB
	DataDir string
	Host    api.HostSource
	// HostCapacity is what instances may use.
	HostCapacity types.Host
	// Runner may be nil: instances then stay pending (NoHypervisor).
	Runner Runner
	// TLSFingerprint is shown in /v1/host; empty for plain HTTP.
	TLSFingerprint string
	// OnNetworkChange, if set, is the NetworkHook.
	OnNetworkChange NetworkHook
	// NICs, if set, puts instances that name a network on the host
	// network; without it they run with no network interface.
	NICs NICs
	// Uplink says the host network has an uplink, so port forwards can
	// work; without it creating one is refused.
	Uplink bool
	// ReservedPorts are public ports that stay the host's own (the API's):
	// no port forward may take them.
	ReservedPorts []uint16
	// PublicIPs is the pool of extra uplink addresses instances may take
	// 1:1; empty means none are offered.
	PublicIPs []netip.Addr
	// HostNets are the host's own networks, which no tenant network may
	// overlap (netcfg.State.HostNets).
	HostNets []netip.Prefix
	// Now may be nil for time.Now.
	Now func() time.Time
}

// ControlPlane is the composed API.
type ControlPlane struct {
	cfg     Config
	auth    *auth.Service
	catalog *types.Catalog
	life    *lifecycle.Manager
	meter   *metering.Meter
	images  *images.Store
	router  *api.Router
	metrics *metrics
	netMu   sync.Mutex // serialises network and group changes
	bg      sync.WaitGroup
}

// clock adapts a now function to lifecycle.Clock.
type clock func() time.Time

func (c clock) Now() time.Time { return c() }

// New composes the control plane over cfg.DB.
func New(cfg Config) (*ControlPlane, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	imgs, err := images.New(cfg.DB, cfg.DataDir, cfg.Now)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{
		cfg:     cfg,
		auth:    auth.New(cfg.DB, cfg.Now),
		catalog: types.NewCatalog(cfg.DB),
		life:    lifecycle.NewManager(cfg.DB, clock(cfg.Now), cfg.HostCapacity),
		meter:   metering.NewMeter(cfg.DB, cfg.Now),
		images:  imgs,
	}
	cp.metrics = newMetrics(cp)
	cp.router = &api.Router{}
	for _, r := range cp.routes() {
		cp.router.Handle(r.method, r.pattern, cp.guard(r))
	}
	return cp, nil
}

// Handler returns the HTTP handler of the whole API.
func (cp *ControlPlane) Handler() *api.Router { return cp.router }

// Bootstrap makes sure the admin token exists (DATA/admin.token).
func (cp *ControlPlane) Bootstrap() (token string, created bool, err error) {
	return cp.auth.Bootstrap(cp.cfg.DataDir)
}

// Wait waits for background VMM starts to finish.
func (cp *ControlPlane) Wait() { cp.bg.Wait() }

// Housekeep runs periodic work until ctx ends: metering checkpoints and
// forgetting terminated instances past their retention.
func (cp *ControlPlane) Housekeep(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := cp.meter.Checkpoint(); err != nil {
			return fmt.Errorf("metering checkpoint: %w", err)
		}
		if _, err := cp.life.Sweep(ctx); err != nil {
			return fmt.Errorf("sweep terminated instances: %w", err)
		}
	}
}
