// Package service runs the appliance API as an ordinary service on an
// existing Linux host ("ironvisor serve"): no mounts, modules, hostname or
// DHCP; a data directory holding the store (state.db), the admin token,
// the images and the TLS identity; and systemd's readiness, watchdog and
// stopping notifications (sd_notify) when NOTIFY_SOCKET is set.
//
// The API is served over HTTPS with a self-signed certificate generated on
// first start (its fingerprint is printed and shown in /v1/host). Plain
// HTTP is allowed only on a loopback address, with Options.InsecureHTTP.
//
// Open composes the control plane (store, admin token, TLS, supervisor,
// reattach, listener); Run is "ironvisor serve" around it, and the PID 1
// appliance (package boot) calls Open too, so both serve the same API.
package service

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Modes reported in /v1/host ("mode").
const (
	ModeService   = "service"   // ironvisor serve on an existing host
	ModeAppliance = "appliance" // PID 1 on real iron
)

// Options configures Open and Run.
type Options struct {
	DataDir string // created with mode 0700 if missing; required
	// Listen is HOST:PORT for the API; required unless Listener is set.
	Listen string
	// Listener, if set, is the API's listener instead of a new one on
	// Listen (PID 1 opens its own, with a fallback address).
	Listener net.Listener
	Console  io.Writer // where status lines go; nil means os.Stdout
	// Start is when the process started, for the timeline; zero means now.
	Start time.Time
	// ShutdownTimeout bounds the graceful HTTP shutdown; zero means 10 s.
	ShutdownTimeout time.Duration
	// InsecureHTTP serves plain HTTP; Listen must then be a loopback
	// address.
	InsecureHTTP bool
	// Runner runs instances; nil means the supervisor when the host has
	// /dev/kvm and runs as root.
	Runner orchestrator.Runner
	// NoHypervisor runs no VMMs even where the host could: launches stay
	// pending with the reason orchestrator.NoHypervisor.
	NoHypervisor bool
	// Watchdog reports the hardware watchdog in /v1/host; nil means none
	// (PID 1 sets it).
	Watchdog func() *hostinfo.Watchdog
	// Update reports the boot slots in /v1/host and HostUpdate installs a
	// new image (POST /v1/host/update); nil means none (PID 1 sets them).
	Update     func() *hostinfo.Update
	HostUpdate apiv1.HostUpdater
	// ConfigSources reports the configuration's sources in /v1/host; nil
	// means none.
	ConfigSources func() []hostinfo.ConfigSource
	// RackNet is the rack network of rack bootstrap (the box's own
	// address); zero means config.DefaultRackNet. The admin API keeps
	// the rack's machines whether or not this box serves them.
	RackNet netip.Prefix
	// Mode is reported in /v1/host; "" means ModeService.
	Mode string
	// Starter starts and waits for the VMM processes; nil means
	// reaper.Direct. PID 1 passes its *reaper.Reaper.
	Starter reaper.Starter
	// Uplink is the host's outside interface: guests' outbound traffic is
	// masqueraded on it, and the API's port is closed to them. A zero
	// Uplink means no NAT (see DefaultUplink).
	Uplink netcfg.Uplink
	// DNSServers are handed to guests by DHCP (see HostDNS).
	DNSServers []netip.Addr
	// APIRate limits each API token to this many requests a second (burst
	// twice that): 0 means the API's default, negative no limit.
	APIRate float64
	// CPUOvercommit is how many vCPUs instances may have per host CPU;
	// 0 means 1 (none). Memory is never overcommitted.
	CPUOvercommit float64
	// PublicIPs is the pool of extra uplink addresses instances may take
	// 1:1 (POST /v1/public-ips); they need Uplink.
	PublicIPs []netip.Addr
	// GuestBlocked are networks guests may not reach through the host
	// (netcfg.State.GuestBlocked), besides the uplink's own subnets.
	GuestBlocked []netip.Prefix
	// GuestReachUplinkNet lets guests reach the uplink's own subnets (the
	// management LAN); false, the default, blocks them.
	GuestReachUplinkNet bool
	// EC2Region and EC2Skew configure the EC2 endpoint (region name, allowed
	// clock skew); zero values are its defaults.
	EC2Region string
	EC2Skew   time.Duration
}

// StoreFile is the store's file under the data directory.
const StoreFile = "state.db"

// Run serves the API until ctx is cancelled, then shuts down gracefully.
// It tells systemd READY=1 once listening, WATCHDOG=1 at half the watchdog
// interval when WATCHDOG_USEC is set, and STOPPING=1 when ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Console == nil {
		o.Console = os.Stdout
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	up, _ := hostinfo.Uptime("/proc")
	tl := timeline.New(o.Console, o.Start, up*1000)
	p, err := Open(tl, o)
	if err != nil {
		return err
	}
	served := p.Serve()
	tl.Ready(p.URL(net.IPv4(127, 0, 0, 1)))
	notify(tl, daemon.SdNotifyReady)

	stopWatchdog := startWatchdog(tl)
	defer stopWatchdog()

	select {
	case <-ctx.Done():
		tl.Logf("stopping")
		notify(tl, daemon.SdNotifyStopping)
	case <-served: // Shutdown reports it
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	return p.Shutdown(sctx)
}

// prepareDataDir creates dir with mode 0700, or checks that it exists and
// is a directory.
func prepareDataDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("data directory: not set (use --data DIR)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s: not a directory", dir)
	}
	return nil
}

// notify sends one sd_notify state; without NOTIFY_SOCKET it does nothing.
func notify(tl *timeline.Timeline, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		tl.Fail("sd_notify", fmt.Errorf("send %s: %w", state, err))
	}
}

// startWatchdog pings systemd's watchdog at half its interval when
// WATCHDOG_USEC (and WATCHDOG_PID, if set) say this process is watched. It
// returns a function that stops the pings.
func startWatchdog(tl *timeline.Timeline) (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		tl.Fail("watchdog", err)
	}
	if err != nil || interval <= 0 {
		return func() {}
	}
	tl.Logf("systemd watchdog every %v; pinging every %v", interval, interval/2)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				notify(tl, daemon.SdNotifyWatchdog)
			}
		}
	}()
	return func() { close(done) }
}
