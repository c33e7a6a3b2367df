// Command ironvisor is the single Ironvisor binary. As PID 1 (or when
// invoked as /init) it boots the appliance; otherwise the first argument
// selects a subcommand.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
	"github.com/ironvisor/ironvisor/vmm/cli"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// command is one subcommand of the ironvisor binary.
type command struct {
	summary string
	run     func(args []string) int
}

// commands lists every subcommand. Wiring is explicit: no init() registration.
var commands = map[string]command{
	bootjail.Command: {"internal: the appliance's jailed reader of a disk's boot files", runBootJail},
	"ctl":            {"command-line client of the appliance API (ctl --help)", runCtl},
	"init":           {"boot the appliance as PID 1 (see init --help)", runInit},
	"serve":          {"run the appliance API as a service on an existing host", runServe},
	"version":        {"print the version", runVersion},
	"vmm":            {"run one virtual machine in the foreground (vmm run ...)", cli.Run},
}

func main() {
	// A jailed VMM is PID 1 of its own PID namespace: it must not boot the
	// appliance.
	if (os.Getpid() == 1 && !jail.IsChild()) || filepath.Base(os.Args[0]) == "init" {
		if c, ok := commands["init"]; ok {
			os.Exit(c.run(os.Args[1:]))
		}
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		os.Exit(0)
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "ironvisor: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

// runBootJail is the jailed child of package bootjail: it refuses to run
// outside the jail the appliance starts it in.
func runBootJail(args []string) int { return bootjail.Main(args) }

// usage prints the subcommands to stderr.
func usage() {
	fmt.Fprintln(os.Stderr, "usage: ironvisor COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
}
