// Package orchestrator runs instances: it boots them (volume, NIC, VMM),
// stops, reboots, resizes and terminates them, takes in their VMMs' exits,
// reconciles them with the VMMs that survived an appliance restart, and
// brings the host network up to date once at start. It is the one place
// that drives the lifecycle state machine (package lifecycle) together
// with the VMM Runner and the host network's NICs, and it declares those
// contracts, one of each: Runner, NICs, RunSpec.
//
// It knows nothing of HTTP: every call takes the caller (auth.Principal)
// or is the appliance's own (VMMExited, Reconcile, SyncNetwork), and
// errors are of apiv1's taxonomy, so every front end shares it. The name
// is the usual one for the part of a cloud control plane that turns
// desired instance state into running processes.
//
// Without a Runner nothing is pretended: launches stay pending with the
// reason NoHypervisor.
package orchestrator

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/hostnet"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/appliance/volumes"
	"github.com/ironvisor/ironvisor/netcfg"
)

// NoHypervisor is the reason recorded on instances that cannot run because
// the appliance has no Runner.
const NoHypervisor = apiv1.ReasonNoHypervisor

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
	NICs []hostnet.NIC
}

// NICs puts instances on the host network; package hostnet implements it
// over netcfg. The orchestrator calls Attach before each VMM start (and
// restart), Detach when a VMM ended or was stopped, Release when the
// instance terminates, and Sync once at appliance start.
type NICs interface {
	// Attach gives instance in, whose Network is set, its NIC: a lease (IP
	// and MAC), allocated once and kept until Release, and a tap on the
	// network's bridge carrying the instance's security groups. It is
	// idempotent.
	Attach(ctx context.Context, in lifecycle.Instance) (hostnet.NIC, error)
	// Detach takes the tap of instance id away, keeping its lease; it
	// does nothing for an instance without a tap.
	Detach(ctx context.Context, id string) error
	// Release removes the NIC of instance id and frees its lease.
	Release(ctx context.Context, id string) error
	// Lease returns the lease of instance id, if it holds one.
	Lease(id string) (netcfg.Lease, bool)
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

// TimedStopper is optionally implemented by a Runner whose graceful stop
// can be given its own timeout; StopWithin asks the guest to shut down and
// forces the stop after graceful.
type TimedStopper interface {
	StopWithin(ctx context.Context, id string, graceful time.Duration) error
}

// Rebooter is optionally implemented by a Runner that can reboot a guest
// gracefully: Reboot asks the guest of id to reboot, ends its VMM by
// force if the guest has not reset within the Runner's graceful timeout,
// and returns once the VMM has ended (its reset reported as an exit, not
// as the guest's own reboot). A reboot by the user then starts a new VMM.
type Rebooter interface {
	Reboot(ctx context.Context, id string) error
}

// Forgetter is optionally implemented by a Runner that keeps files about
// stopped instances; Forget is called when an instance terminates.
type Forgetter interface {
	Forget(id string) error
}

// Config is what New needs.
type Config struct {
	DB      *store.DB
	DataDir string
	Life    *lifecycle.Manager
	Images  *images.Store
	Catalog *types.Catalog
	Domain  *domain.Domain
	// Runner may be nil: instances then stay pending (NoHypervisor).
	Runner Runner
	// NICs, if set, puts instances that name a network on the host
	// network; without it they run with no network interface.
	NICs NICs
	// Metrics, if set, gets the orchestrator's metrics registered.
	Metrics prometheus.Registerer
	// DiskReserve is kept free on DataDir's file system for the store
	// (disk.go); 0 means DefaultDiskReserve or a twentieth of the file
	// system, the smaller.
	DiskReserve uint64
	// Statfs returns the free bytes of a directory's file system and its
	// size; nil means statfs(2).
	Statfs func(dir string) (free, total uint64, err error)
	// VolumeWorkers bounds the volume copies at once; 0 means
	// DefaultVolumeWorkers.
	VolumeWorkers int
	// Now may be nil for time.Now.
	Now func() time.Time
}

// Orchestrator runs the instances.
type Orchestrator struct {
	cfg     Config
	metrics *metrics
	bg      sync.WaitGroup // background boots
	// imgMu orders launches and image deletions, so that no launch takes
	// an image that a deletion found unused.
	imgMu sync.Mutex
	// resets counts guest reboots, to stop a reboot loop.
	resets   resets
	diskMu   sync.Mutex    // serialises launches' disk admission
	volSlots chan struct{} // one per volume copy running
	waits    waiting       // each tenant's long-polls that wait
}

// New returns the orchestrator of cfg, its metrics registered.
func New(cfg Config) (*Orchestrator, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	o := &Orchestrator{cfg: cfg}
	o.diskSetup()
	// Copies a crash cut short: nothing copies yet.
	if err := volumes.CleanTemp(filepath.Join(cfg.DataDir, volumesDir)); err != nil {
		return nil, err
	}
	o.metrics = newMetrics(cfg.Life)
	if cfg.Metrics != nil {
		if err := o.metrics.register(cfg.Metrics); err != nil {
			return nil, fmt.Errorf("register orchestrator metrics: %w", err)
		}
	}
	return o, nil
}

// HasRunner says instances can run here.
func (o *Orchestrator) HasRunner() bool { return o.cfg.Runner != nil }

// Wait waits for background VMM starts to finish.
func (o *Orchestrator) Wait() { o.bg.Wait() }

// Get returns the stored instance id, whoever owns it: for the
// appliance's own services (the metadata service), never for a front end.
func (o *Orchestrator) Get(id string) (lifecycle.Instance, error) { return o.cfg.Life.Get(id) }

// Instance returns instance id if who may see it, else NotFound.
func (o *Orchestrator) Instance(id string, who auth.Principal) (lifecycle.Instance, error) {
	in, err := o.cfg.Life.Get(id)
	if err != nil || !who.CanAccess(in.TenantID) || lifecycle.Expired(in, o.cfg.Now()) {
		return lifecycle.Instance{}, fmt.Errorf("instance %q: %w", id, apiv1.NotFound)
	}
	return in, nil
}

// Instances lists the instances who may see.
func (o *Orchestrator) Instances(who auth.Principal) ([]lifecycle.Instance, error) {
	return o.cfg.Life.List(who.TenantID)
}

// Capacity returns the host's capacity for guests and what instances
// hold of it (lifecycle.Capacity). It sums every tenant's instances, so
// only the admin may see it; a tenant is Forbidden.
func (o *Orchestrator) Capacity(who auth.Principal) (lifecycle.Capacity, error) {
	if !who.Admin {
		return lifecycle.Capacity{}, fmt.Errorf("%w: the host's capacity is for the admin", apiv1.Forbidden)
	}
	return o.cfg.Life.Capacity()
}
