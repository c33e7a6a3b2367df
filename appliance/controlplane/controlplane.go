// Package controlplane composes the appliance's control plane: the core
// (package domain: networks, groups, forwards, public IPs, key pairs;
// package orchestrator: instances and their VMMs; and the auth, types,
// images, lifecycle and metering services they stand on) and its front
// ends (package rest, the native JSON API under /v1; package ec2, the EC2
// Query endpoint under /ec2/, signed with tenants' access keys; package
// console, the web console under /console/). It holds no logic of its own
// beyond the wiring, so that the service (both "ironvisor serve" and PID
// 1) composes the same thing, and a new front end is one more field here,
// not a copy of the core.
//
// Instances are run by a Runner (the supervisor, one jailed "ironvisor vmm
// run" per instance). Without a Runner nothing is pretended: launches stay
// pending with the reason orchestrator.NoHypervisor.
package controlplane

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/core/tags"
	"github.com/ironvisor/ironvisor/appliance/frontend/console"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
	"github.com/ironvisor/ironvisor/appliance/frontend/rest"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/appliance/version"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Config is what New composes.
type Config struct {
	// HostUpdate is PID 1's self-update (POST /v1/host/update); nil
	// outside PID 1.
	HostUpdate apiv1.HostUpdater
	// Collectors are further metrics for /metrics, such as the running
	// VMMs' device counters that the composition root reads through the
	// supervisor.
	Collectors []prometheus.Collector
	DB         *store.DB
	DataDir    string
	Host       api.HostSource
	// HostCapacity is what instances may use.
	HostCapacity types.Host
	// Runner may be nil: instances then stay pending (NoHypervisor).
	Runner orchestrator.Runner
	// TLSFingerprint is shown in /v1/host; empty for plain HTTP.
	TLSFingerprint string
	// OnNetworkChange, if set, is the domain's NetworkHook.
	OnNetworkChange domain.NetworkHook
	// NICs, if set, puts instances that name a network on the host
	// network; without it they run with no network interface.
	NICs orchestrator.NICs
	// Uplink says the host network has an uplink, so port forwards can
	// work; without it creating one is refused.
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
	// EC2Region names the appliance as a region at the EC2 endpoint;
	// empty means ec2.DefaultRegion.
	EC2Region string
	// EC2Skew is the clock skew the EC2 endpoint allows a signed request;
	// zero means 5 minutes, as AWS.
	EC2Skew time.Duration
	// Rate and Burst limit each credential's requests, through the native
	// API and the EC2 endpoint alike (ratelimit.New): zeros for
	// ratelimit.DefaultRate and DefaultBurst, a negative Rate no limit.
	Rate  float64
	Burst int
	// StrangerRate and StrangerBurst limit each client address's failed
	// authentications, on every front end together
	// (ratelimit.NewStrangers): zeros for the defaults, a negative
	// StrangerRate no limit.
	StrangerRate  float64
	StrangerBurst int
	// Now may be nil for time.Now.
	Now func() time.Time
	// Rack is the rack's machines for /v1/rack; nil answers those
	// routes with IncorrectState.
	Rack rest.Rack
	// BootJail is how disk images' boot files are read (PID 1 sets its
	// reaper as the Starter); the zero value is bootjail's defaults.
	BootJail bootjail.Config
}

// ControlPlane is the composed control plane.
type ControlPlane struct {
	orch    *orchestrator.Orchestrator
	dataDir string
	auth    *auth.Service
	life    *lifecycle.Manager
	meter   *metering.Meter
	rest    *rest.Server
	console *console.Server
	ec2     *ec2.Server
	handler http.Handler
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
	imgs.SetBootJail(cfg.BootJail)
	cp := &ControlPlane{
		dataDir: cfg.DataDir,
		auth:    auth.New(cfg.DB, cfg.Now),
		life:    lifecycle.NewManager(cfg.DB, clock(cfg.Now), cfg.HostCapacity),
		meter:   metering.NewMeter(cfg.DB, cfg.Now),
	}
	catalog := types.NewCatalog(cfg.DB)
	dom := domain.New(domain.Config{DB: cfg.DB, Life: cp.life, OnNetworkChange: cfg.OnNetworkChange,
		Uplink: cfg.Uplink, ReservedPorts: cfg.ReservedPorts, HostListener: cfg.HostListener, PublicIPs: cfg.PublicIPs, HostNets: cfg.HostNets, Now: cfg.Now})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	reg.MustRegister(cfg.Collectors...)
	cp.orch, err = orchestrator.New(orchestrator.Config{DB: cfg.DB, DataDir: cfg.DataDir, Life: cp.life,
		Images: imgs, Catalog: catalog, Domain: dom, Runner: cfg.Runner, NICs: cfg.NICs, Metrics: reg, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	keys, err := auth.OpenAccessKeys(cfg.DB, cfg.DataDir, cfg.Now)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	limit := ratelimit.New(cfg.Rate, cfg.Burst, now)
	cp.rest, err = rest.New(rest.Config{DB: cfg.DB, Auth: cp.auth, AccessKeys: keys, Catalog: catalog, Images: imgs, Meter: cp.meter, Domain: dom,
		Orch: cp.orch, Host: cfg.Host, TLSFingerprint: cfg.TLSFingerprint, Metrics: reg,
		Version: version.Version, Limit: limit, Now: cfg.Now, HostUpdate: cfg.HostUpdate, Rack: cfg.Rack})
	if err != nil {
		return nil, err
	}
	cp.console, err = console.New(console.Config{Limit: limit, Auth: cp.auth, Catalog: catalog, Images: imgs, Meter: cp.meter, Domain: dom,
		Orch: cp.orch, Host: cfg.Host, TLSFingerprint: cfg.TLSFingerprint, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	cp.ec2 = ec2.New(ec2.Config{Keys: keys, Catalog: catalog, Images: imgs, Domain: dom, Orch: cp.orch,
		Tags: tags.New(cfg.DB), Limit: limit, Region: cfg.EC2Region, Skew: cfg.EC2Skew, Now: cfg.Now})
	cp.handler = ratelimit.NewStrangers(cfg.StrangerRate, cfg.StrangerBurst, now).Handler(
		frontEnds(cp.rest.Handler(), cp.console.Handler(), cp.ec2), cp.refuseStranger)
	return cp, nil
}

// frontEnds serves the EC2 endpoint under ec2.Path, the web console under
// console.Prefix and the native API everywhere else (its router answers
// what it does not know as JSON).
func frontEnds(api, web, ec2api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, ec2.Path) || p == strings.TrimSuffix(ec2.Path, "/"):
			ec2api.ServeHTTP(w, r)
		case strings.HasPrefix(p, console.Prefix):
			web.ServeHTTP(w, r)
		case p == strings.TrimSuffix(console.Prefix, "/"):
			http.Redirect(w, r, console.Prefix, http.StatusMovedPermanently)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// refuseStranger answers a request of a client address that failed to
// authenticate too often, in the format of the front end it was sent to
// (as frontEnds routes it).
func (cp *ControlPlane) refuseStranger(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, ec2.Path) || p == strings.TrimSuffix(ec2.Path, "/"):
		cp.ec2.RefuseStranger(w, r, wait)
	case strings.HasPrefix(p, console.Prefix):
		cp.console.RefuseStranger(w, r, wait)
	default:
		rest.RefuseStranger(w, r, wait)
	}
}

// Handler returns the HTTP handler of every front end: the native API,
// the EC2 endpoint and the web console.
func (cp *ControlPlane) Handler() http.Handler { return cp.handler }

// EC2Region is the region name the EC2 endpoint answers as.
func (cp *ControlPlane) EC2Region() string { return cp.ec2.Region() }

// Bootstrap makes sure the admin token exists (DATA/admin.token).
func (cp *ControlPlane) Bootstrap() (token string, created bool, err error) {
	return cp.auth.Bootstrap(cp.dataDir)
}

// Instance returns the stored instance id, whoever owns it: for the
// appliance's own services (the metadata service), never for the API.
func (cp *ControlPlane) Instance(id string) (lifecycle.Instance, error) { return cp.orch.Get(id) }

// ConsolePath is where instance id's console log goes.
func (cp *ControlPlane) ConsolePath(id string) string { return cp.orch.ConsolePath(id) }

// Wait waits for background VMM starts to finish.
func (cp *ControlPlane) Wait() { cp.orch.Wait() }

// VMMExited is the Runner's exit notification (orchestrator.VMMExited).
func (cp *ControlPlane) VMMExited(id, reason string, crashed bool) {
	cp.orch.VMMExited(id, reason, crashed)
}

// VMMReset is the Runner's notification of a guest's own reboot
// (orchestrator.VMMReset).
func (cp *ControlPlane) VMMReset(id, reason string) { cp.orch.VMMReset(id, reason) }

// Reconcile runs once at start, with the VMMs that survived
// (orchestrator.Reconcile).
func (cp *ControlPlane) Reconcile(ctx context.Context, alive []string) ([]lifecycle.Instance, error) {
	return cp.orch.Reconcile(ctx, alive)
}

// SyncNetwork converges the host network once at start, after Reconcile
// (orchestrator.SyncNetwork).
func (cp *ControlPlane) SyncNetwork(ctx context.Context) error { return cp.orch.SyncNetwork(ctx) }

// StartAgain starts, in the background, the instances whose VMM did not
// survive the restart, after SyncNetwork (orchestrator.StartAgain).
func (cp *ControlPlane) StartAgain(ctx context.Context, done func(started, due int)) {
	cp.orch.StartAgain(ctx, done)
}

// Housekeep runs periodic work until ctx ends: metering checkpoints and
// forgetting terminated instances past their retention. A failed step is
// handed to report (nil for slog) and housekeeping goes on: one bad tick
// (a full disk, a lock held past ctx) must not stop the checkpoints that
// bound unbilled time until the next restart.
func (cp *ControlPlane) Housekeep(ctx context.Context, every time.Duration, report func(step string, err error)) {
	if report == nil {
		report = func(step string, err error) { slog.Error("housekeeping", "step", step, "err", err) }
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := cp.meter.Checkpoint(); err != nil {
			report("metering checkpoint", err)
		}
		if _, err := cp.life.Sweep(ctx); err != nil && ctx.Err() == nil {
			report("sweep terminated instances", err)
		}
	}
}
