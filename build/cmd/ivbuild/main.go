// Command ivbuild turns Ironvisor's sources into bootable artefacts and
// boots them in the virtual rack. It is the packer; the program it packs
// (cmd/ironvisor) knows nothing about it.
//
//	ivbuild kernels                 fetch the host and guest kernels
//	ivbuild initramfs -o FILE       build the appliance initramfs
//	ivbuild disk -o FILE            a UEFI-bootable GPT disk image (UKI on the ESP)
//	ivbuild pxe -o DIR              a TFTP folder with an iPXE script
//	ivbuild cloudimage              a Debian 12 cloud disk image (cached)
//	ivbuild run [-boot direct|pxe|uefi]  boot one virtual server
//	ivbuild bench build/bench/NAME.md  measure a section, write it from its data
//	ivbuild bench-boot | ivbuild docsection docs/benchmarks.md
//	ivbuild bench-run -n 30         the `make run` server, 30 fresh boots
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one ivbuild subcommand.
type command struct {
	summary string
	run     func(args []string) int
}

// commands lists the subcommands.
var commands = map[string]command{
	"kernels":    {"fetch Debian's host and guest kernels into the cache and print their versions", runKernels},
	"initramfs":  {"build the appliance initramfs and the artefacts manifest", runInitramfs},
	"run":        {"boot one virtual server with the appliance and print its API URL", runRun},
	"disk":       {"write a GPT disk image with systemd-boot and the UKI in boot slot A on its ESP", runDisk},
	"uki":        {"write the appliance UKI alone, to install with ironvisor ctl host update", runUKI},
	"pxe":        {"write a TFTP folder with kernel, initramfs and an iPXE script", runPXE},
	"bench-run":  {"boot the `make run` server N times from a fresh state; report stalls and time to API (markdown)", runBenchRun},
	"cloudimage": {"build (or reuse) a Debian 12 cloud disk image with its kernel and initrd", runCloudImage},
	"bench-boot": {"measure image reproducibility, size and appliance boot time (markdown)", runBenchBoot},
	"bench":      {"run a section's Go benchmarks, keep their output in docs/bench and write the section (markdown)", runBench},
	"docsection": {"replace a \"## \" section of a markdown file with stdin", runDocSection},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		os.Exit(0)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "ivbuild: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}

// usage prints the subcommands.
func usage() {
	fmt.Fprint(os.Stderr, "usage: ivbuild COMMAND [flags]   (ivbuild COMMAND --help for flags)\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, commands[n].summary)
	}
}

// logf prints a progress line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ivbuild: "+format+"\n", args...)
}
