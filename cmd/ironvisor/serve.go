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
const serveHelp = `usage: ironvisor serve --data DIR [--listen HOST:PORT] [--insecure-http]

Run the Ironvisor appliance API as a service on an existing Linux host.
Unlike the PID 1 appliance it mounts nothing, loads no modules and leaves
the hostname and network alone.

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
	err := service.Run(ctx, service.Options{DataDir: *data, Listen: *listen, Start: start, InsecureHTTP: *insecure})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor serve: %v\n", err)
		return 1
	}
	return 0
}
