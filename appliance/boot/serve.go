package boot

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/service"
	"github.com/ironvisor/ironvisor/appliance/version"
	"github.com/ironvisor/ironvisor/config"
	"github.com/ironvisor/ironvisor/netcfg"
)

// startAPI listens on the configured address (falling back to
// config.DefaultAPI if that fails), composes the control plane on DataDir
// as "ironvisor serve" does (service.Open) and serves the whole API over
// HTTPS, prints the banner and marks the timeline ready. If the control
// plane cannot be composed, the failure is reported and the host document
// alone is served over plain HTTP (it holds no secrets), so the box can
// still say what went wrong.
func (a *appliance) startAPI() error {
	ln, err := net.Listen("tcp", a.cfg.API)
	if err != nil && a.cfg.API != config.DefaultAPI {
		a.tl.Fail("api", fmt.Errorf("listen on %s: %w; trying %s", a.cfg.API, err, config.DefaultAPI))
		ln, err = net.Listen("tcp", config.DefaultAPI)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	blocked, blockUplink, _ := config.ParseGuestBlocked(a.cfg.GuestBlocked) // sanitised
	skew, _ := config.ParseClockSkew(a.cfg.EC2ClockSkew)                    // sanitised
	a.plane, err = service.Open(a.tl, service.Options{DataDir: a.dataDir, Listener: ln, Listen: addr,
		Mode: service.ModeAppliance, Starter: a.reap, Console: a.o.Console, NoHypervisor: a.o.NoHypervisor,
		Uplink: netcfg.Uplink{Name: a.up.Iface}, DNSServers: a.up.DNS, CPUOvercommit: a.overcommit(), PublicIPs: a.publicIPs(),
		GuestBlocked: blocked, GuestReachUplinkNet: !blockUplink, EC2Region: a.cfg.EC2Region, EC2Skew: skew,
		Watchdog: a.watchdogStatus, Update: a.upd.doc, HostUpdate: a.upd.install, RackNet: a.rackNet(), ConfigSources: a.configSources})
	var url string
	if err == nil {
		served := a.plane.Serve()
		a.goSafe("api", func() {
			if err := <-served; err != nil {
				a.tl.Fail("api", err)
			}
		})
		url = a.plane.URL(a.advertise())
	} else {
		a.tl.Fail("controlplane", fmt.Errorf("%w; serving only GET /v1/host, over plain HTTP", err))
		a.plane = nil
		ln.Close() // Open may have closed it already
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		host := hostinfo.New(service.ModeAppliance, a.tl)
		host.Watchdog = a.watchdogStatus
		host.Update = a.upd.doc
		host.ConfigSources = a.configSources
		host.DataDir = a.dataDir
		a.api = api.NewServer(api.New(host))
		a.goSafe("api", func() {
			if err := a.api.Serve(ln); err != nil {
				a.tl.Fail("api", err)
			}
		})
		url = api.URL(ln.Addr(), a.advertise())
	}
	if a.cfg.Rack.Enabled {
		a.tl.Run("rack", a.startRack)
	}
	a.tl.Run("watchdog", a.startWatchdog)
	a.banner(url)
	a.tl.Ready(url)
	a.runTestHook()
	return nil
}

// overcommit is the configured CPU overcommit (the configuration was
// sanitised, so it parses; 1 otherwise).
func (a *appliance) overcommit() float64 {
	oc, err := config.ParseOvercommit(a.cfg.CPUOvercommit)
	if err != nil {
		return 1
	}
	return oc
}

// publicIPs is the configured public IP pool (sanitised, so it parses;
// none otherwise).
func (a *appliance) publicIPs() []netip.Addr {
	pips, err := config.ParsePublicIPs(a.cfg.PublicIPs)
	if err != nil {
		return nil
	}
	return pips
}

// advertise returns the address to show in the API URL when listening on
// every address: the uplink's, else any non-loopback one, else loopback.
func (a *appliance) advertise() net.IP {
	if a.up.Address.IsValid() {
		return a.up.Address.Addr().AsSlice()
	}
	if addrs, _ := hostinfo.InterfaceAddresses(); len(addrs) > 0 {
		for _, ad := range addrs {
			if ip, _, err := net.ParseCIDR(ad.CIDR); err == nil && ip.To4() != nil {
				return ip
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// banner prints the console banner: the API URL, the TLS certificate's
// fingerprint, the admin token when it was created on this start (the only
// time it is shown), where the state lives (with a warning when it is in
// RAM), and the failures.
func (a *appliance) banner(url string) {
	rep := a.tl.Report()
	line := strings.Repeat("=", 64)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n  %s on %s\n", line, versionLine(), a.cfg.Hostname)
	fmt.Fprintf(&b, "  API      %s\n", url)
	if p := a.plane; p != nil {
		fmt.Fprintf(&b, "  TLS      SHA-256 %s\n", p.Fingerprint)
		tokenFile := filepath.Join(a.dataDir, auth.AdminTokenFile)
		if p.AdminToken != "" {
			fmt.Fprintf(&b, "  Admin    %s\n", p.AdminToken)
			fmt.Fprintf(&b, "           (shown once, now; also in %s, mode 0600)\n", tokenFile)
		} else {
			fmt.Fprintf(&b, "  Admin    token created at first start; it is in %s\n", tokenFile)
		}
		fmt.Fprintf(&b, "  Try      ironvisor ctl --url %s --fingerprint %s --token TOKEN host\n", url, p.Fingerprint)
		if !p.HasRunner {
			fmt.Fprintf(&b, "  VMs      none can run here: instances stay pending\n")
		}
	} else {
		fmt.Fprintf(&b, "  Try      curl %sv1/host\n", url)
	}
	fmt.Fprintf(&b, "  Data     %s on %s\n", a.dataDir, a.data.Source)
	if !a.data.Persistent {
		fmt.Fprintf(&b, "  WARNING  the state (instances, images, tokens) is in RAM and a reboot loses it;\n"+
			"           keep it on disk with %s=LABEL=NAME (a btrfs or ext4 file system)\n", config.KeyData)
	}
	if w := a.wd.Load(); w != nil {
		fmt.Fprintf(&b, "  Watchdog %s, %v timeout, petted while healthy\n", a.o.WatchdogDevice, w.Timeout())
	}
	b.WriteString(a.rackLine())
	if a.up.Iface != "" {
		fmt.Fprintf(&b, "  Uplink   %s %s (%s)\n", a.up.Iface, a.up.Address, a.up.Source)
	}
	fmt.Fprintf(&b, "  Boot     %.0f ms since init start (kernel uptime at init %.0f ms)\n",
		a.tl.SinceStart(), rep.KernelUptimeMS)
	if len(rep.Failures) == 0 {
		fmt.Fprintf(&b, "  Failures none\n")
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "  FAILED   %s: %s\n", f.Step, f.Error)
	}
	fmt.Fprintf(&b, "%s\n", line)
	fmt.Fprint(a.o.Console, b.String())
}

// versionLine names the build.
func versionLine() string { return version.String() }

// handlePower acts on a power signal: every other process (the VMMs
// among them) is stopped, then the control plane shuts down (API, store),
// then the kernel stops the machine. If the kernel refuses, PID 1 carries
// on, without its control plane.
func (a *appliance) handlePower(sig os.Signal) {
	act := ActionFor(sig)
	if act == ActionNone {
		return
	}
	a.tl.Logf("received %v: %s", sig, act)
	fmt.Fprintf(a.o.Console, "IRONVISOR %s\n", strings.ToUpper(act.String()))
	flush := func() { a.closePlane(act) }
	if err := PowerDown(act, 5*time.Second, a.reap, flush, a.tl.Logf); err != nil {
		a.tl.Fail("power", err)
	}
}

// closePlane is PowerDown's flush: with the VMMs gone and their exits
// recorded, it stops the API and closes the store before the kernel stops
// the machine, and then, the shutdown being deliberate, disarms the
// hardware watchdog so that it is not taken for a hang.
func (a *appliance) closePlane(act Action) {
	if a.plane != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.tl.Logf("%s: closing the control plane", act)
		if err := a.plane.Shutdown(ctx); err != nil {
			a.tl.Logf("%s: control plane shutdown: %v", act, err)
		}
		a.plane = nil
	}
	a.stopWatchdog(act)
}
