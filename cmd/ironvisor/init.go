package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ironvisor/ironvisor/appliance/boot"
)

// processStart is read as the program starts, before main, so that the
// boot timeline counts from as close to the kernel's exec of /init as Go
// allows.
var processStart = time.Now()

// initHelp is the --help text of "ironvisor init".
const initHelp = `usage: ironvisor init [--config FILE]

Boot the Ironvisor appliance. This runs as PID 1 (the kernel starts the
binary as /init): it mounts /proc, /sys, /dev, /run, /tmp and cgroup2, loads
kernel modules, sets the hostname, brings up loopback and the uplink (DHCP
or static), mounts the data file system on /var/lib/ironvisor, and serves
the whole management API over HTTPS (the same control plane as "ironvisor
serve"); then it reaps zombies and powers off on SIGTERM or SIGUSR2 and
reboots on SIGINT (Ctrl-Alt-Del) or SIGUSR1. It never exits. A failing step
prints "IRONVISOR FAILED step=NAME: error" and boot goes on; "IRONVISOR
READY api=URL" means the API is listening.

The console banner shows the API URL, the SHA-256 fingerprint of its
self-signed certificate (generated on first start) and, on first start
only, the admin token (also kept in /var/lib/ironvisor/admin.token, mode
0600).

Configuration, from the kernel command line (later keys win):
  ironvisor.hostname=NAME        host name (default ironvisor)
  ironvisor.uplink=dhcp|static   how the uplink gets its address (default dhcp)
  ironvisor.address=CIDR         static address, e.g. 192.0.2.10/24
  ironvisor.gateway=IP           static default route
  ironvisor.dns=IP[,IP]          name servers
  ironvisor.api=HOST:PORT        API listen address (default :8080)
  ironvisor.modules=a,b          extra kernel modules to load
  ironvisor.iface=NAME           uplink interface (default: first ethernet
                                 interface with carrier that gets a lease)
  ironvisor.data=SOURCE          where the state lives: tmpfs (default; RAM,
                                 lost at reboot), LABEL=NAME, UUID=UUID or
                                 /dev/NAME (an existing ext4 or btrfs file
                                 system, mounted on /var/lib/ironvisor)
--config FILE reads the same settings from a JSON object first
({"hostname": ..., "uplink": ..., "dns": [...], "modules": [...], ...}).
Unknown ironvisor.* keys and invalid values are reported and replaced by
their defaults.
`

// runInit is the "init" subcommand, also run when the binary is PID 1.
// As PID 1 it never returns: the kernel panics when init exits.
func runInit(args []string) int {
	if os.Getpid() == 1 {
		boot.Main(boot.Options{Args: args, Start: processStart})
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(os.Stdout, initHelp)
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "ironvisor init: must run as PID 1 (it mounts filesystems, loads modules and powers the machine off); use 'ironvisor serve' on an existing host")
	return 2
}
