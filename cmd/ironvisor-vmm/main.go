// Command ironvisor-vmm runs one virtual machine in the foreground: it is
// `ironvisor vmm run` (package vmm/cli) linked without the appliance, and
// the binary the appliance's supervisor starts, jailed, for each instance.
//
// It exists for what a VMM process costs and exposes: the appliance binary
// links the API server, TLS, nftables, DHCP, Prometheus and more, and
// every package initialiser runs at each VMM start, touching their pages
// (about 10 MiB of resident file pages, against about 3.5 MiB here); none
// of that code is mapped into a process that runs a guest.
//
// Usage: ironvisor-vmm run --kernel K [flags] (see run --help). The
// appliance's argument shape, "vmm run ...", is accepted too.
package main

import (
	"os"

	"github.com/ironvisor/ironvisor/vmm/cli"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "vmm" {
		args = args[1:]
	}
	os.Exit(cli.Run(args))
}
