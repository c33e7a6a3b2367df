// Package cli is the command line of one virtual machine: `ironvisor vmm
// run` and the appliance's lean VMM binary, ironvisor-vmm (cmd/ironvisor-vmm),
// share it. Run parses the flags, opens the files they name (or takes the
// jail's inherited fds, "fd:N"), builds the VM with package vm, serves the
// control socket and runs the guest in the foreground; the exit code says
// how it ended (vmm/exitcode).
//
// A process started by vmm/jail (jail.IsChild) confines itself with
// jail.Enter before it reads any flag.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/kvm"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

// Run runs `vmm SUBCOMMAND ARGS` (args is SUBCOMMAND ARGS; "run" is the
// only subcommand) and returns the process's exit code.
func Run(args []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "usage: ironvisor vmm run --kernel K [--initrd I] [--cmdline ...] [--mem 256M] [--cpus N] [--disk PATH[,ro]]... [--tap NAME[,mac=..]]... [--console-log PATH] [--control SOCKET]\nfiles may be given as fd:N (inherited descriptors)")
		return exitcode.Usage
	}
	return runVMMRun(args[1:])
}

// vmmFlags are the parsed flags of `ironvisor vmm run`.
type vmmFlags struct {
	kernel, initrd, cmdline  string
	mem                      string
	cpus                     int
	disks, taps              listFlag
	consoleLog, control      string
	consoleMax               string
	kvm, kvmKind             string
	pvmGuest, stdin          bool
	smbiosUUID, smbiosSerial string
	smbiosAssetTag           string
	smbiosProduct            string
	stopTimeout              time.Duration
}

// listFlag is a repeatable string flag.
type listFlag []string

// String joins the values.
func (l *listFlag) String() string { return strings.Join(*l, " ") }

// Set appends one value.
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseVMMFlags parses the flags of `vmm run`.
func parseVMMFlags(args []string) (vmmFlags, error) {
	var f vmmFlags
	fs := flag.NewFlagSet("vmm run", flag.ContinueOnError)
	fs.StringVar(&f.kernel, "kernel", "", "guest kernel: bzImage or PVH ELF (required)")
	fs.StringVar(&f.initrd, "initrd", "", "initial ramdisk")
	fs.StringVar(&f.cmdline, "cmdline", "console=ttyS0", "kernel command line")
	fs.StringVar(&f.mem, "mem", "256M", "guest RAM (K, M, G suffixes)")
	fs.IntVar(&f.cpus, "cpus", 1, "number of vCPUs")
	fs.Var(&f.disks, "disk", "virtio-blk disk PATH[,ro] (repeatable)")
	fs.Var(&f.taps, "tap", "virtio-net on tap NAME[,mac=xx:xx:xx:xx:xx:xx] (repeatable)")
	fs.StringVar(&f.consoleLog, "console-log", "", "write the serial console here instead of stdout")
	fs.StringVar(&f.consoleMax, "console-log-max", "64M", "most bytes written to --console-log (the ring buffer keeps the newest)")
	fs.StringVar(&f.control, "control", "", "serve the control socket at this path (or fd:N, an inherited listening socket)")
	fs.StringVar(&f.kvm, "kvm", "/dev/kvm", "KVM device (or fd:N)")
	fs.StringVar(&f.kvmKind, "kvm-kind", "", "host KVM flavour for the PVM guard: SVM, VMX or PVM (default: detect from /sys)")
	fs.BoolVar(&f.stdin, "stdin", false, "forward standard input to the guest's serial console")
	fs.BoolVar(&f.pvmGuest, "pvm-guest", false, "the 64-bit kernel is built as a PVM guest")
	fs.StringVar(&f.smbiosUUID, "smbios-uuid", "", "SMBIOS system UUID (8-4-4-4-12 hex), the guest's /sys/class/dmi/id/product_uuid")
	fs.StringVar(&f.smbiosSerial, "smbios-serial", "", "SMBIOS system and chassis serial number (product_serial), e.g. the instance ID")
	fs.StringVar(&f.smbiosAssetTag, "smbios-asset-tag", "", "SMBIOS chassis asset tag (chassis_asset_tag)")
	fs.StringVar(&f.smbiosProduct, "smbios-product", "", "SMBIOS product name (product_name); default \"Ironvisor VM\"")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 30*time.Second, "after SIGTERM, how long the guest has to shut down before a forced stop")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() != 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.kernel == "" {
		return f, errors.New("--kernel is required")
	}
	return f, nil
}

// parseSize parses a byte count with an optional K, M or G suffix (powers
// of 1024).
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n > ^uint64(0)/mult {
		return 0, fmt.Errorf("size %q overflows", s)
	}
	return n * mult, nil
}

// parseDisk parses PATH[,ro].
func parseDisk(s string) (path string, ro bool, err error) {
	path, opt, _ := strings.Cut(s, ",")
	switch opt {
	case "":
	case "ro":
		ro = true
	default:
		return "", false, fmt.Errorf("disk %q: unknown option %q", s, opt)
	}
	if path == "" {
		return "", false, fmt.Errorf("disk %q: empty path", s)
	}
	return path, ro, nil
}

// runVMMRun is `ironvisor vmm run`: build one VM from flags, run it in the
// foreground and exit with the code that says how it ended.
func runVMMRun(args []string) int {
	// A VMM started by the appliance's supervisor confines itself before it
	// touches any guest input: pivot_root, uid drop, seccomp (vmm/jail).
	if jail.IsChild() {
		files, err := jail.Enter()
		if err != nil {
			fmt.Fprintf(os.Stderr, "ironvisor vmm run: enter the jail: %v\n", err)
			return exitcode.VMMError
		}
		// Enter wraps every inherited fd in an *os.File; the flags open
		// the same fds again by number (fd:N). Unreferenced, Enter's
		// files would be finalized by a garbage collection and close the
		// console, disk and tap fds under the running VM.
		defer runtime.KeepAlive(files)
		stages.markParent(jail.ParentStages())
		for _, st := range jail.EnterStages() {
			stages.markAt("jail_"+st.Name, st.At)
		}
		stages.mark("jail")
	}
	f, err := parseVMMFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor vmm run: %v\n", err)
		return exitcode.Usage
	}
	log := newLog(os.Stderr)
	slog.SetDefault(log) // devices that log through slog's default, too
	s, err := startVMM(f, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor vmm run: %v\n", err)
		return exitcode.VMMError
	}
	// What loading left behind (the images' host copies, parse buffers) is
	// garbage now: return it to the OS while the vCPUs start, rather than
	// keep it resident for the VM's lifetime.
	go debug.FreeOSMemory()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	go stopOnSignals(s.m, s.cancel, f.stopTimeout, sig, log)
	if f.stdin {
		go forwardInput(os.Stdin, s.m)
	}
	stages.mark("run")
	fmt.Fprintf(os.Stderr, "ironvisor vmm run: %s\n", stages)
	return s.run()
}

// vmmSession is one built VM with its control socket, ready to run.
type vmmSession struct {
	m       *vm.VM
	ctx     context.Context
	cancel  context.CancelFunc // forces a stop
	cleanup []func()           // run in reverse order after the VM stops
}

// startVMM opens the files, builds the VM and starts the control socket
// server, so that the socket accepts connections once it returns.
func startVMM(f vmmFlags, log *slog.Logger) (*vmmSession, error) {
	cfg, closeAll, err := vmmConfig(f, log)
	s := &vmmSession{cleanup: []func(){closeAll}}
	if err != nil {
		s.close()
		return nil, err
	}
	start := time.Now()
	if s.m, err = vm.New(cfg); err != nil {
		s.close()
		return nil, err
	}
	s.cleanup = append(s.cleanup, func() { s.m.Close() })
	// The VM and its vCPUs exist: a jailed VMM gives up creating more, and
	// every other ioctl it does not need, before the guest runs.
	if err := jail.Seal(); err != nil {
		s.close()
		return nil, err
	}
	log.Info("vm built", "after", time.Since(start))
	stages.mark("built")
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cleanup = append(s.cleanup, s.cancel)
	if f.control != "" {
		stop, err := serveControl(s.m, f.control, log)
		if err != nil {
			s.close()
			return nil, err
		}
		s.cleanup = append(s.cleanup, stop)
	}
	return s, nil
}

// run runs the VM to its end, reports why on stderr, releases everything
// and returns the exit code.
func (s *vmmSession) run() int {
	defer s.close()
	res := s.m.Run(s.ctx)
	fmt.Fprint(os.Stderr, exitReport(res))
	return res.Code
}

// exitReport is what run writes on stderr when the VM has ended: after a
// triple fault the guest's state, then one line that says why it ended.
// That line comes last because the appliance's supervisor takes a VMM's
// last line as the reason it reports (appliance/supervisor's describe).
func exitReport(res vm.Result) string {
	var b strings.Builder
	if res.State != "" {
		b.WriteString("ironvisor vmm run: guest state at the end:\n" + res.State)
	}
	fmt.Fprintf(&b, "ironvisor vmm run: %s (exit %d)", res.Reason, res.Code)
	if res.Err != nil {
		b.WriteString(": " + res.Err.Error())
	}
	b.WriteString("\n")
	return b.String()
}

// close runs the cleanups, newest first.
func (s *vmmSession) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	s.cleanup = nil
}

// vmmConfig turns flags into a VM config, opening the files it names. The
// returned function closes them.
func vmmConfig(f vmmFlags, log *slog.Logger) (vm.Config, func(), error) {
	o := &opener{}
	cfg := vm.Config{Cmdline: f.cmdline, CPUs: f.cpus, PVMGuest: f.pvmGuest, Log: log, Console: os.Stdout, Kind: kvm.Kind(f.kvmKind)}
	switch cfg.Kind {
	case "", kvm.KindSVM, kvm.KindVMX, kvm.KindPVM:
	default:
		return cfg, o.closeAll, fmt.Errorf("--kvm-kind %q: want SVM, VMX or PVM", f.kvmKind)
	}
	var err error
	if cfg.MemSize, err = parseSize(f.mem); err != nil {
		return cfg, o.closeAll, err
	}
	if cfg.SMBIOS, err = smbiosInfo(f); err != nil {
		return cfg, o.closeAll, err
	}
	if cfg.Kernel, err = readNamed(f.kernel); err != nil {
		return cfg, o.closeAll, fmt.Errorf("read kernel: %w", err)
	}
	if f.initrd != "" {
		if cfg.Initrd, err = readNamed(f.initrd); err != nil {
			return cfg, o.closeAll, fmt.Errorf("read initrd: %w", err)
		}
	}
	if strings.HasPrefix(f.kvm, "fd:") {
		if cfg.KVM, err = jail.OpenFile(f.kvm, os.O_RDWR, 0); err != nil {
			return cfg, o.closeAll, err
		}
	} else {
		cfg.Device = f.kvm
	}
	if err := o.devices(f, &cfg); err != nil {
		return cfg, o.closeAll, err
	}
	return cfg, o.closeAll, o.consoleLog(f, &cfg)
}

// opener remembers the files it opened so they can be closed together.
type opener struct{ files []io.Closer }

// closeAll closes every file opened.
func (o *opener) closeAll() {
	for _, c := range o.files {
		c.Close()
	}
}

// devices opens the disks and taps named by the flags.
func (o *opener) devices(f vmmFlags, cfg *vm.Config) error {
	for _, d := range f.disks {
		path, ro, err := parseDisk(d)
		if err != nil {
			return err
		}
		mode := os.O_RDWR
		if ro {
			mode = os.O_RDONLY
		}
		file, err := jail.OpenFile(path, mode, 0)
		if err != nil {
			return fmt.Errorf("open disk: %w", err)
		}
		o.files = append(o.files, file)
		cfg.Disks = append(cfg.Disks, vm.Disk{File: file, Path: path, ReadOnly: ro})
	}
	for _, t := range f.taps {
		tap, err := openTapFlag(t)
		if err != nil {
			return err
		}
		o.files = append(o.files, tap.File)
		cfg.Taps = append(cfg.Taps, tap)
	}
	return nil
}

// consoleLog opens --console-log, capped by --console-log-max.
func (o *opener) consoleLog(f vmmFlags, cfg *vm.Config) error {
	if f.consoleLog == "" {
		return nil
	}
	var max uint64 // "" or 0: no cap
	if f.consoleMax != "" {
		var err error
		if max, err = parseSize(f.consoleMax); err != nil || max > math.MaxInt64 {
			return fmt.Errorf("--console-log-max %q: bad size", f.consoleMax)
		}
	}
	file, err := jail.OpenFile(f.consoleLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open console log: %w", err)
	}
	o.files = append(o.files, file)
	cfg.Console, cfg.ConsoleLimit = file, int64(max)
	return nil
}

// forwardInput copies r to the guest's serial console until r ends.
func forwardInput(r io.Reader, m *vm.VM) {
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m.ConsoleInput(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// readNamed reads a whole file named by path or "fd:N".
func readNamed(name string) ([]byte, error) {
	f, err := jail.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One buffer of the file's size (plus one byte to see the end): io.ReadAll
	// grows by doubling, which for a distribution kernel leaves garbage of
	// about its size on the heap.
	size := 512
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = int(fi.Size()) + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// stopOnSignals turns the first of the signals sig delivers (SIGTERM,
// SIGINT) into a graceful stop, as the control socket's: the ACPI power
// button, then Ctrl-Alt-Del after powerButtonGrace (vm.ShutDown). The
// stop is forced after timeout or on a second signal.
func stopOnSignals(m *vm.VM, force context.CancelFunc, timeout time.Duration, sig <-chan os.Signal, log *slog.Logger) {
	select {
	case <-sig:
	case <-m.Done():
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := m.ShutDown(ctx, powerButtonGrace); err != nil {
		if !errors.Is(err, vm.ErrNotRunning) {
			log.Warn("graceful stop", "err", err)
		}
		force()
	}
}
