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
)

// serveHelp is the --help text of "ironvisor serve".
const serveHelp = `usage: ironvisor serve --data DIR [--listen HOST:PORT]

Run the Ironvisor appliance API as a service on an existing Linux host.
Unlike the PID 1 appliance it mounts nothing, loads no modules and leaves
the hostname and network alone.

  GET /v1/host   the host document: version, CPU, memory, /dev/kvm, addresses

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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := service.Run(ctx, service.Options{DataDir: *data, Listen: *listen, Start: start})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: %v\n", err)
		return 1
	}
	return 0
}
