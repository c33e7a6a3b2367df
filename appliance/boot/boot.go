// Package boot is the appliance as PID 1: it brings a bare server from the
// kernel's hand-over to a serving API (mounts, modules, hostname, network,
// API), then reaps zombies and handles power signals forever. Every step is
// timed on the start-up timeline; a failing step is reported on the console
// and through the API, and boot goes on.
package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/rackboot"
	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/appliance/service"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/appliance/uplink"
	"github.com/ironvisor/ironvisor/appliance/watchdog"
	"github.com/ironvisor/ironvisor/config"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// Options configures Main. Zero values mean the defaults given per field.
type Options struct {
	// Args are init's arguments; "--config FILE" (or --config=FILE) adds a
	// JSON configuration file, read before the kernel command line.
	Args []string
	// Start is when the process started; zero means now.
	Start time.Time
	// Console receives the console lines; nil means os.Stdout.
	Console io.Writer
	// Mounts replaces the mount table; nil means Mounts.
	Mounts []Mount
	// ModuleOpts says where modules come from; nil means the running
	// kernel's, under /lib/modules. Tests point it at a fake tree.
	ModuleOpts *kmodule.ProbeOpts
	// NoHypervisor runs no VMMs (launches stay pending); tests that run
	// PID 1 in a namespace set it.
	NoHypervisor bool
	// WatchdogDevice is the hardware watchdog PID 1 arms; Main turns ""
	// into /dev/watchdog. An appliance built without Main (unit tests)
	// keeps "" and arms none. Tests that run PID 1 in a namespace point it
	// at a plain file, so the host's watchdog is never touched.
	WatchdogDevice string
}

// appliance carries what the boot steps learn for the later ones.
type appliance struct {
	o       Options
	cmdline string // the kernel command line file, /proc/cmdline
	tl      *timeline.Timeline
	cfg     config.Config
	up      uplink.Result
	reap    *reaper.Reaper
	dataDir string // DataDir; tests use a temporary folder
	data    Data
	plane   *service.Plane // nil if the control plane could not be composed
	api     *api.Server    // the host-only API served instead of a failed plane
	sigs    chan os.Signal
	kvmPin  *kvm.Pin // held until power-off; nil without KVM
	// wd is the armed hardware watchdog, nil if none; /v1/host reads it
	// from the API's goroutines.
	wd atomic.Pointer[watchdog.Watchdog]
	// upd is the self-update (boot slots).
	upd *updater
	// srcMu guards sources: the configuration's sources, for /v1/host.
	srcMu   sync.Mutex
	sources []hostinfo.ConfigSource
	// sethostname sets the hostname once the config URL changed it; nil
	// means unix.Sethostname. Unit tests record it instead.
	sethostname func([]byte) error
	// rack is rack bootstrap, nil unless ironvisor.rack=on.
	rack *rackboot.Server
}

// Main boots the appliance as PID 1 and never returns. Before the first
// step it starts the zombie reaper and listens for power signals (SIGTERM
// and SIGUSR2 power off; SIGINT, sent on Ctrl-Alt-Del, and SIGUSR1 reboot),
// so a signal during boot is acted on once boot is done.
func Main(o Options) {
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	if o.Mounts == nil {
		o.Mounts = Mounts
	}
	if o.ModuleOpts == nil {
		o.ModuleOpts = &kmodule.ProbeOpts{}
	}
	if o.WatchdogDevice == "" {
		o.WatchdogDevice = watchdog.DefaultDevice
	}
	a := &appliance{o: o, cmdline: "/proc/cmdline", tl: timeline.New(o.Console, o.Start, 0), dataDir: DataDir,
		reap: reaper.New("/proc"), sigs: make(chan os.Signal, 4), cfg: config.Defaults()}
	a.upd = &updater{a: a}
	signal.Notify(a.sigs, PowerSignals...)
	a.goSafe("reaper", func() { a.reap.Run(context.Background(), 30*time.Second, a.tl.Logf) })
	a.boot()
	for {
		a.handlePower(<-a.sigs)
	}
}

// boot runs the boot steps in order, each named as on the timeline.
// More specifically, it:
//   - mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run, /tmp
//     and cgroup2 on /sys/fs/cgroup ("mount");
//   - points fds 0-2 at /dev/console if the kernel could not ("console");
//   - reads the configuration: --config FILE, then the ironvisor.* keys of
//     /proc/cmdline; invalid values are reported and replaced by their
//     defaults ("config"; see config.go for the order of the sources);
//   - makes Ctrl-Alt-Del send SIGINT to init instead of rebooting ("cad");
//   - loads EarlyModules and the configured extra modules with their
//     dependencies; missing ones are logged and skipped ("modules");
//   - holds an idle KVM VM for the appliance's lifetime (kvm.Pin), so that
//     guests starting and stopping never flip the kernel's KVM static keys:
//     under an emulated server that can freeze it ("kvm");
//   - starts loading LateModules in the background, while the uplink waits
//     for DHCP ("modules-late");
//   - sets the hostname ("hostname");
//   - brings up loopback ("loopback");
//   - gets the uplink address by DHCP, or applies the static one, with its
//     default route and /etc/resolv.conf, and keeps renewing a DHCP lease
//     in the background ("uplink");
//   - with ironvisor.config=URL#sha256=HEX, fetches that JSON document
//     (bounded in size and time), checks its checksum and applies it
//     between --config FILE and the command line; a failure is reported
//     and the box goes on with the other sources ("config-url", see
//     fetchConfigURL);
//   - mounts the data file system on DataDir: by default (auto) the disk
//     image's own data partition, grown and formatted on first boot while
//     it is blank (mountOwn); else the one named by ironvisor.data
//     (LABEL=, UUID= or /dev/NAME; ext4 or btrfs); else a tmpfs whose
//     contents a reboot loses ("storage");
//   - finds the boot slots on the ESP beside the data partition, which
//     one systemd-boot booted, and whether an update was rolled back
//     ("slots", see updater.open); once the API is up, a trial boot of a
//     new slot is blessed when healthy or reboots at its deadline;
//   - composes the control plane exactly as "ironvisor serve" does
//     (service.Open: store, admin token, TLS certificate, the jailed-VMM
//     supervisor with PID 1's reaper, reattach) and serves the whole API
//     over HTTPS, then prints the banner (URL, certificate fingerprint, the
//     admin token on first start) and "IRONVISOR READY api=URL" ("api");
//   - with ironvisor.rack=on, serves the rack network: DHCP, TFTP and
//     HTTP of this box's own kernel and image, so that its siblings
//     network-boot from it ("rack", see startRack and package rackboot);
//   - just before the banner, arms the hardware watchdog (/dev/watchdog,
//     unless ironvisor.watchdog=off) and pets it while the control plane
//     passes its own health check, so a hung or stopped PID 1 is reset by
//     the hardware; a box without one logs it and carries on
//     ("watchdog", see startWatchdog).
//
// Before "storage" it waits for the late modules: the data file system
// may need disk drivers, and the control plane sets up the host network
// (nftables, bridges, taps) as it opens.
func (a *appliance) boot() {
	a.tl.Logf("%s starting as PID %d", versionLine(), os.Getpid())
	a.tl.Run("mount", func() error { return MountAll("/", a.o.Mounts, a.tl.Logf) })
	a.recordKernelUptime()
	a.tl.Run("console", func() error { return EnsureConsole("/dev/console") })
	a.tl.Run("config", a.loadConfig)
	a.tl.Run("cad", DisableCAD)
	a.tl.Run("modules", func() error {
		_, err := LoadModules(moduleList(EarlyModules, a.cfg.Modules), *a.o.ModuleOpts, a.tl.Logf)
		return err
	})
	if !a.o.NoHypervisor {
		a.tl.Run("kvm", a.pinKVM)
	}
	late := a.startLateModules()
	a.tl.Run("hostname", func() error { return unix.Sethostname([]byte(a.cfg.Hostname)) })
	a.tl.Run("loopback", uplink.Loopback)
	uplinkErr := a.tl.Run("uplink", func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		a.up, err = uplink.Configure(ctx, a.cfg, uplink.Options{Logf: a.tl.Logf})
		if err == nil {
			a.goSafe("uplink", func() { uplink.Keep(context.Background(), a.up, uplink.Options{Logf: a.tl.Logf}) })
		}
		return err
	})
	a.tl.Run("config-url", func() error { return a.fetchConfigURL(uplinkErr) })
	a.waitLateModules(late)
	a.tl.Run("storage", func() (err error) {
		a.data, err = mountData("/", a.cfg.Data, systemPlace, a.o.ModuleOpts, a.tl.Logf)
		return err
	})
	a.tl.Run("slots", a.upd.open)
	a.tl.Run("api", a.startAPI)
	a.goSafe("update", a.upd.afterAPI)
}

// pinKVM creates the appliance's kvm.Pin once the KVM modules are loaded
// and before anything else (the host probe, the first guest) creates a VM.
// A host without /dev/kvm is logged, not failed: the host document says
// why instances cannot run.
func (a *appliance) pinKVM() error {
	if _, err := os.Stat(kvmDevice); errors.Is(err, os.ErrNotExist) {
		a.tl.Logf("no %s: instances cannot run on this host", kvmDevice)
		return nil
	}
	p, err := kvm.NewPin(kvmDevice)
	if err != nil {
		return fmt.Errorf("hold an idle VM: %w", err)
	}
	a.kvmPin = p
	return nil
}

// kvmDevice is the KVM device PID 1 pins.
const kvmDevice = "/dev/kvm"

// lateModulesWait bounds how long the control plane waits for the late
// module wave; past it, it starts anyway and the wave goes on.
const lateModulesWait = 2 * time.Minute

// startLateModules loads LateModules in the background and returns a
// channel closed when they are done.
func (a *appliance) startLateModules() <-chan struct{} {
	done := make(chan struct{})
	a.goSafe("modules-late", func() {
		defer close(done)
		a.tl.Run("modules-late", func() error {
			_, err := LoadModules(LateModules, *a.o.ModuleOpts, a.tl.Logf)
			return err
		})
	})
	return done
}

// waitLateModules waits for the late wave: the control plane sets up the
// host network (nf_tables, bridges, taps) as it opens.
func (a *appliance) waitLateModules(done <-chan struct{}) {
	select {
	case <-done:
	case <-time.After(lateModulesWait):
		a.tl.Fail("modules-late", fmt.Errorf("still loading after %v; starting the control plane anyway", lateModulesWait))
	}
}

// goSafe runs fn on a new goroutine. A panic is recorded as a failure of
// step instead of killing PID 1, which would panic the kernel.
func (a *appliance) goSafe(step string, fn func()) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				a.tl.Fail(step, fmt.Errorf("panic: %v", p))
			}
		}()
		fn()
	}()
}

// recordKernelUptime places the start of init on the kernel's clock.
func (a *appliance) recordKernelUptime() {
	if up, err := hostinfo.Uptime("/proc"); err == nil {
		a.tl.SetKernelUptime(up*1000 - a.tl.SinceStart())
	}
}

// configFlag returns the value of --config in init's arguments. Other
// arguments (the kernel passes init the words it does not know) are ignored.
func configFlag(args []string) string {
	for i, arg := range args {
		if v, ok := strings.CutPrefix(arg, "--config="); ok {
			return v
		}
		if arg == "--config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// moduleList returns base followed by the extra modules not already in it.
func moduleList(base, extra []string) []string {
	out := append([]string{}, base...)
	seen := map[string]bool{}
	for _, m := range out {
		seen[m] = true
	}
	for _, m := range extra {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
