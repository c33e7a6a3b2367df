package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/netboot"
	"github.com/ironvisor/ironvisor/build/rack"
)

// ReadyLine matches the appliance's banner and captures the API URL.
var readyLine = regexp.MustCompile(`IRONVISOR READY api=(\S+)\r?\n`)

// runFlags are the flags of `ivbuild run`.
type runFlags struct {
	dir     string
	append  string
	memory  int
	cpus    int
	console bool
	logDir  string
	timeout time.Duration
	stall   time.Duration
	retries int
	boot    string
	forward string // -forward: guest ports forwarded from the same local port
	data    string // -data: the data disk, "" for none
	image   string // -image: a disk image imported at first boot, "" for none
	qemu    string // the emulator; "" for qemu-system-x86_64 (tests use a fake)
}

// runRun implements `ivbuild run`.
func runRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var f runFlags
	fs.StringVar(&f.dir, "artefacts", ".cache/out", "artefacts folder written by `ivbuild initramfs`")
	fs.StringVar(&f.append, "append", "", "extra kernel command line, e.g. ironvisor.hostname=node1")
	fs.IntVar(&f.memory, "memory", 2048, "server RAM in MiB")
	fs.IntVar(&f.cpus, "cpus", 2, "server vCPUs")
	fs.BoolVar(&f.console, "console", false, "also copy the serial console to this terminal")
	fs.StringVar(&f.logDir, "logs", ".cache/run", "folder for the console log")
	fs.StringVar(&f.boot, "boot", "direct", "how the server boots: direct (-kernel/-initrd), pxe (iPXE over TFTP) or uefi (OVMF from a GPT disk with a UKI)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long to wait for the API to come up")
	fs.DurationVar(&f.stall, "stall", 2*time.Minute, "a boot whose console shows nothing new for this long is stuck: it is stopped and started again")
	fs.IntVar(&f.retries, "retries", 1, "how many times a stuck boot is started again")
	fs.StringVar(&f.forward, "forward", "2200-2209", "server ports forwarded from the same ports on 127.0.0.1 (PORT or FIRST-LAST; \"\" for none): an appliance port forward with one of them as its public port is reachable from this machine")
	fs.StringVar(&f.data, "data", ".cache/run/data.img", "the server's data disk (made as a sparse btrfs image when missing; \"\" keeps the state in RAM)")
	fs.StringVar(&f.image, "image", ".cache/images/debian-12-cloud/disk.qcow2", "a cloud disk image imported as debian-12 once the API is up, unless the appliance has it (\"\" for none; `ivbuild cloudimage` builds it)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild run [flags]\n\nBoots one virtual server (QEMU, TCG with nested SVM) with the host kernel\nand the appliance initramfs, forwards its API to a port on 127.0.0.1,\nprints the URL and a curl example, and runs until Ctrl-C or SIGTERM,\nwhich stop QEMU cleanly. A boot that stops printing for -stall is\nreported (with the appliance's step) and started again, -retries times.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if err := bootOne(f); err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild run:", err)
		return 1
	}
	return 0
}

// bootOne boots the server and waits for a signal.
func bootOne(f runFlags) error {
	set, err := artefacts.Load(f.dir)
	if err != nil {
		return err
	}
	same, err := parsePorts(f.forward)
	if err != nil {
		return err
	}
	disk, err := dataDisk(f.data)
	if err != nil {
		return err
	}
	if disk != nil {
		f.append = strings.TrimSpace("ironvisor.data=LABEL=" + dataLabel + " " + f.append)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var console io.Writer
	if f.console {
		console = os.Stdout
	}
	o := rack.Options{
		Name: "server1", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Append:    "console=ttyS0 " + f.append,
		MemoryMiB: f.memory, CPUs: f.cpus, LogDir: f.logDir, Console: console, QEMU: f.qemu,
		SamePorts: same, Extra: disk,
	}
	if err := bootMedia(&o, set, f); err != nil {
		return err
	}
	logf("booting %s with %s (%s boot); console log: %s", set.HostKernel.Release, set.Initramfs, f.boot,
		filepath.Join(f.logDir, o.Name+".console.log"))
	b, err := bootWatched(ctx, o, f)
	if err != nil && ctx.Err() != nil {
		logf("interrupted before the API came up; stopping ...")
		return nil
	}
	if err != nil {
		return err
	}
	srv := b.srv
	defer func() {
		srv.Stop()
		logf("server stopped; console log kept in %s", srv.LogPath)
	}()
	fmt.Printf("\nIronvisor is up after %.1fs (inside the server: %s)\n", b.took.Seconds(), b.api)
	a, err := printAPI(srv, filepath.Dir(srv.LogPath))
	if err != nil {
		logf("API details: %v", err)
	}
	if a != nil && f.image != "" {
		if err := importImage(ctx, a, "debian-12", f.image); err != nil {
			logf("%v", err)
		}
	}
	if len(same) > 0 {
		fmt.Printf("  forwarded:    127.0.0.1:%d-%d to the server's ports of the same numbers (appliance port forwards)\n\n", same[0], same[len(same)-1])
	}
	select {
	case <-ctx.Done():
		logf("stopping ...")
	case <-srv.Done():
		return fmt.Errorf("server exited: %v\n%s", srv.Err(), srv.Console.Tail(20))
	}
	return nil
}

// booted is a server whose appliance printed IRONVISOR READY.
type booted struct {
	srv      *rack.Server
	api      string        // the API URL the appliance printed
	took     time.Duration // from the first start to READY, retries included
	attempts int           // boots started
	stalls   []string      // why each stuck boot was given up on
}

// bootWatched starts the server and waits for IRONVISOR READY while
// watching the console: a boot that prints nothing for f.stall is stuck.
// It says which appliance step the console stopped in, keeps that boot's
// console log beside the new one (NAME.console.stalled-N.log), and starts
// the server again, up to f.retries times. On success the caller owns
// b.srv.
func bootWatched(ctx context.Context, o rack.Options, f runFlags) (*booted, error) {
	b := &booted{}
	start := time.Now()
	for {
		b.attempts++
		srv, err := rack.Start(ctx, o)
		if err != nil {
			return b, err
		}
		m, err := waitReady(ctx, srv, f.timeout, f.stall)
		if err == nil {
			b.srv, b.api, b.took = srv, m[1], time.Since(start)
			return b, nil
		}
		srv.Stop()
		if !errors.Is(err, rack.ErrStalled) || ctx.Err() != nil || b.attempts > f.retries {
			return b, err
		}
		kept := fmt.Sprintf("%s.stalled-%d.log", strings.TrimSuffix(srv.LogPath, ".log"), b.attempts)
		if rerr := os.Rename(srv.LogPath, kept); rerr != nil {
			kept = srv.LogPath + " (not kept: " + rerr.Error() + ")"
		}
		why := stallReport(srv.Console, f.stall)
		b.stalls = append(b.stalls, why)
		logf("BOOT STALLED: %s; console log kept in %s", why, kept)
		logf("starting the server once more (attempt %d of %d) ...", b.attempts+1, f.retries+1)
	}
}

// stallReport says where a stuck console stopped: the appliance's last
// boot step (timeline lines "ironvisor: step NAME") and the last line.
func stallReport(c *rack.Console, quiet time.Duration) string {
	step := "none yet: the kernel or the firmware stopped"
	if l := c.LastLine("ironvisor: step "); l != "" {
		step = strings.TrimSpace(l[strings.Index(l, "ironvisor: step ")+len("ironvisor: step "):])
	}
	last := strings.TrimSpace(c.Tail(1))
	last = strings.TrimSpace(strings.TrimPrefix(last, "console tail:"))
	return fmt.Sprintf("no console output for %v; appliance step %q; last line %q", quiet, step, last)
}

// waitReady waits for the banner, printing progress every 15 seconds,
// and gives up with rack.ErrStalled once the console is quiet for stall.
func waitReady(ctx context.Context, srv *rack.Server, timeout, stall time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				step := srv.Console.LastLine("ironvisor: step ")
				if step == "" {
					step = "kernel booting"
				}
				logf("waiting for IRONVISOR READY (%.0fs; TCG is slow; at: %s) ...", time.Since(start).Seconds(), strings.TrimSpace(step))
			}
		}
	}()
	return srv.Console.ExpectRegexpStall(ctx, readyLine, stall)
}

// bootMedia prepares PXE or UEFI media in the log folder and points o at
// them; direct boot needs nothing.
func bootMedia(o *rack.Options, set *artefacts.Set, f runFlags) error {
	if err := os.MkdirAll(f.logDir, 0o755); err != nil {
		return err
	}
	switch f.boot {
	case "direct":
		return nil
	case "pxe":
		tftp := filepath.Join(f.logDir, "tftp")
		err := netboot.WriteTFTP(tftp, netboot.Options{Kernel: o.Kernel, Initrds: o.Initrds, Cmdline: o.Append})
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(tftp)
		if err != nil {
			return err
		}
		o.NetBoot(abs, netboot.ScriptName)
		return nil
	case "uefi":
		img := filepath.Join(f.logDir, "disk.img")
		if err := buildDisk(set, img, o.Append, "dev"); err != nil {
			return err
		}
		extra, err := rack.UEFIDiskArgs(f.logDir, img)
		if err != nil {
			return err
		}
		o.Kernel, o.Extra = "", append(o.Extra, extra...)
		return nil
	}
	return fmt.Errorf("unknown -boot %q (direct, pxe or uefi)", f.boot)
}

// printAPI prints how to reach the server's API from this machine: the
// forwarded HTTPS URL, the certificate (fetched, checked against the
// banner's fingerprint and saved for curl --cacert) and the admin token the
// banner showed, saved with mode 0600.
func printAPI(srv *rack.Server, dir string) (*rack.API, error) {
	b, err := rack.ParseBanner(srv.Console.String())
	if err != nil {
		return nil, err
	}
	addr := srv.Addr(8080)
	url := "https://" + addr + "/"
	fmt.Printf("  API:          %s\n  fingerprint:  %s\n", url, b.Fingerprint)
	cert := filepath.Join(dir, "api.pem")
	if err := saveCertificate(addr, b.Fingerprint, cert); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "admin.token")
	if b.AdminToken != "" {
		if err := os.WriteFile(tokenFile, []byte(b.AdminToken+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	fmt.Printf("  admin token:  %s (mode 0600)\n", tokenFile)
	fmt.Printf("  try:          curl --cacert %s -H \"Authorization: Bearer $(cat %s)\" %sv1/host\n  stop:         Ctrl-C\n\n", cert, tokenFile, url)
	// A later start on the same data disk shows no token: the file
	// kept from the first start is the admin's.
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	return srv.API(8080, b.Fingerprint, strings.TrimSpace(string(tok)))
}

// saveCertificate fetches the certificate served at addr, checks its
// SHA-256 against fingerprint and writes it as PEM to path.
func saveCertificate(addr, fingerprint, path string) error {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // checked by fingerprint below
	if err != nil {
		return fmt.Errorf("fetch the API certificate: %w", err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("the API sent no certificate")
	}
	if err := rack.CheckFingerprint(certs[0].Raw, fingerprint); err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), 0o644)
}
