package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ironvisor/ironvisor/appliance/service"
	"github.com/ironvisor/ironvisor/config"
	"github.com/ironvisor/ironvisor/netcfg"
)

// serveHelp is the --help text of "ironvisor serve".
const serveHelp = `usage: ironvisor serve --data DIR [--listen HOST:PORT] [--insecure-http]
                       [--uplink IFACE|auto|none] [--cpu-overcommit N] [--public-ips LIST]
                       [--guest-blocked LIST]

Run the Ironvisor appliance API as a service on an existing Linux host.
Unlike the PID 1 appliance it mounts nothing, loads no modules and leaves
the hostname and the host's own addresses and routes alone. It adds its own
bridges, taps and nftables tables (named ironvisor*) for the instances,
masquerades their outbound traffic on the uplink (by default the interface
of the default route), hands them the host's non-loopback name servers by
DHCP, and serves their metadata (169.254.169.254, redirected to port 8775).
Guests may not reach the uplink's own subnets (the management network) or
the networks named by --guest-blocked.

The API is HTTPS with a self-signed certificate created on first start in
DIR (tls.crt, tls.key); its SHA-256 fingerprint is printed and shown in
GET /v1/host. --insecure-http serves plain HTTP, on a loopback address only.
The admin token is written to DIR/admin.token (mode 0600) on first start.
Every request needs "Authorization: Bearer TOKEN"; GET /v1/openapi.json
describes the whole API, and "ironvisor ctl" is its command-line client.

Under systemd (Type=notify) it reports READY=1 once the API listens, pings
the watchdog when WatchdogSec= is set, and on SIGTERM or SIGINT reports
STOPPING=1 and shuts the API down gracefully.

flags:
`

// runServe is the "serve" subcommand.
func runServe(args []string) int {
	start := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveHelp)
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "data directory (created with mode 0700)")
	listen := fs.String("listen", "127.0.0.1:8080", "address the API listens on")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP (loopback addresses only)")
	apiRate := fs.Float64("api-rate", 0, "requests a second each API token may make (burst twice that); 0 for the default (50), negative for no limit")
	overcommit := fs.String("cpu-overcommit", "1", fmt.Sprintf("vCPUs that instances may have per host CPU (1 to %d; memory is never overcommitted)", config.MaxOvercommit))
	public := fs.String("public-ips", "", "extra uplink addresses instances may take 1:1: a comma-separated list of addresses and prefixes")
	noHV := fs.Bool("no-hypervisor", false, "run no VMMs even where /dev/kvm works: an API-only node whose launches stay pending")
	blocked := fs.String("guest-blocked", "", `networks guests may not reach: IPv4 prefixes and "uplink" (its own subnets), comma-separated; "" means uplink, "none" nothing`)
	region := fs.String("ec2-region", "", `region name of the EC2 endpoint (at /ec2/); "" means ironvisor-1`)
	skew := fs.String("ec2-clock-skew", "", `clock skew the EC2 endpoint allows a signed request, 1s to 1h; "" means 5m`)
	up := fs.String("uplink", "auto", "interface on which guests' outbound traffic is masqueraded: a name, auto (the default route's) or none")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *data == "" {
		fmt.Fprintln(os.Stderr, "ironvisor serve: --data DIR is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	oc, err := config.ParseOvercommit(*overcommit)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: --cpu-overcommit %q: %v\n", *overcommit, err)
		return 2
	}
	pips, err := config.ParsePublicIPs(*public)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: --public-ips: %v\n", err)
		return 2
	}
	gb, gbUplink, err := config.ParseGuestBlocked(*blocked)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: --guest-blocked: %v\n", err)
		return 2
	}
	if err := config.CheckRegion(*region); err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: --ec2-region: %v\n", err)
		return 2
	}
	sk, err := config.ParseClockSkew(*skew)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: --ec2-clock-skew: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	o := service.Options{DataDir: *data, Listen: *listen, Start: start, InsecureHTTP: *insecure,
		DNSServers: service.HostDNS("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"), CPUOvercommit: oc, PublicIPs: pips, APIRate: *apiRate,
		GuestBlocked: gb, GuestReachUplinkNet: !gbUplink, NoHypervisor: *noHV, EC2Region: *region, EC2Skew: sk}
	switch *up {
	case "none":
	case "auto":
		u, err := service.DefaultUplink()
		if err != nil {
			fmt.Fprintf(os.Stderr, "ironvisor serve: no uplink for guests' outbound traffic (%v); --uplink IFACE names one\n", err)
		}
		o.Uplink = u
	default:
		o.Uplink = netcfg.Uplink{Name: *up}
	}
	err = service.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: %v\n", err)
		return 1
	}
	return 0
}
