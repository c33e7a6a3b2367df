// Package gotest runs a Go test package inside a virtual-rack server, for
// tests that this host's kernel cannot run (no nested KVM, no memory
// cgroup controller, no VLAN or bonding support) but Debian's stock kernel
// can.
//
// Run compiles the package's test binary statically (go test -c with
// CGO_ENABLED=0), packs it with /bin/busybox and the requested host-kernel
// modules (resolved with their dependencies by initramfs.ResolveModules)
// into an initramfs whose busybox /init mounts proc, sys, dev, tmp and
// cgroup2, loads the modules in the given order, runs the binary with
// -test.v, prints an exit marker and powers off. The server boots the
// artefacts' host kernel with build/rack; Run returns the test output and
// the binary's exit code. CheckPassed turns that into test assertions:
// exit code 0, the named tests passed, and no test printed "SKIP:".
package gotest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/initramfs"
)

// Busybox is the static busybox the server's /init runs with.
const Busybox = "/bin/busybox"

// Console markers printed by the server's /init around the test run.
const (
	markBegin = "GOTEST-BEGIN"
	markExit  = "GOTEST-EXIT"
)

// Options describe one in-rack test run. Zero values have the meaning
// given on the field.
type Options struct {
	// Package is the import path of the Go package whose tests run
	// ("github.com/ironvisor/ironvisor/netcfg"). Required.
	Package string
	// Run is the -test.run regular expression; "" runs every test.
	Run string
	// Modules are host-kernel modules loaded, in this order and each after
	// its dependencies, before the tests start. A name the kernel builds
	// in is satisfied; a name it lacks fails Run. List a soft dependency
	// that is only an alias (crc32c for libcrc32c) by its provider
	// (crc32c_generic), before the modules needing it.
	Modules []string
	// Timeout bounds the whole server run, boot included; 0 means 5
	// minutes. The test binary gets -test.timeout a little shorter.
	Timeout time.Duration
	// MemoryMiB and CPUs size the server; 0 means 1024 and 2.
	MemoryMiB, CPUs int
	// LogDir receives the console log, the test binary and the initrd; ""
	// means a temporary folder removed after the run.
	LogDir string
	// Ironvisor, when true, also puts the ironvisor binary, built from this
	// tree (the artefacts' copy may predate the code under test), at
	// /bin/ironvisor for tests that start VMM processes.
	Ironvisor bool
	// Files are more entries of the server's initramfs, such as a guest
	// kernel and initrd for the tests to boot; nil adds none.
	Files []initramfs.Entry
}

// Result is the outcome of a run that reached the exit marker.
type Result struct {
	// Exit is the test binary's exit status (0 when every test passed).
	Exit int
	// Output is the console between the begin and exit markers: the test
	// binary's -test.v output, mixed with any kernel console messages.
	Output string
	// Console is the whole console, boot included.
	Console string
	// Elapsed is the time from starting the server to the exit marker.
	Elapsed time.Duration
}

// withDefaults fills the zero values of o.
func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	return o
}

// Run builds the test binary and the initramfs and boots them on the host
// kernel of set. It fails when the build fails, the server does not reach
// the exit marker in time, or a module is missing; a failing test is not
// an error (see Result.Exit and CheckPassed).
func Run(ctx context.Context, set *artefacts.Set, o Options) (*Result, error) {
	o = o.withDefaults()
	if o.Package == "" {
		return nil, fmt.Errorf("rack go test: no package")
	}
	dir := o.LogDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gotest-")
		if err != nil {
			return nil, fmt.Errorf("rack go test: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	bin := filepath.Join(dir, "pkg.test")
	if err := Compile(ctx, o.Package, bin); err != nil {
		return nil, err
	}
	img := filepath.Join(dir, "gotest.cpio")
	if err := WriteOverlay(img, set.HostKernel.ModulesDir(), set.HostKernel.Release, bin, o); err != nil {
		return nil, err
	}
	initrds := []string{img}
	if o.Ironvisor {
		for _, c := range ironvisorCommands {
			extra, err := commandOverlay(ctx, dir, c.pkg, c.path)
			if err != nil {
				return nil, err
			}
			initrds = append(initrds, extra)
		}
	}
	if usesKVM(o.Modules) {
		pin, err := kvmPinOverlay(ctx, dir)
		if err != nil {
			return nil, err
		}
		initrds = append(initrds, pin)
	}
	return boot(ctx, set, initrds, dir, o)
}

// ironvisorCommands are the binaries Options.Ironvisor puts into L1: the
// ironvisor binary and, beside it, the lean VMM binary that its
// supervisor runs (supervisor.DefaultBinary).
var ironvisorCommands = []struct{ pkg, path string }{
	{"github.com/ironvisor/ironvisor/cmd/ironvisor", "/bin/ironvisor"},
	{"github.com/ironvisor/ironvisor/cmd/ironvisor-vmm", "/bin/ironvisor-vmm"},
}

// kvmPinOverlay builds build/rack/kvmpin (see PinKVM) and writes an archive
// holding it at /bin/kvmpin into dir.
func kvmPinOverlay(ctx context.Context, dir string) (string, error) {
	return commandOverlay(ctx, dir, KVMPinPackage, KVMPinPath)
}

// commandOverlay builds the command pkg statically and writes an archive
// holding it at path into dir.
func commandOverlay(ctx context.Context, dir, pkg, path string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(path))
	if err := Build(ctx, pkg, bin); err != nil {
		return "", err
	}
	b := initramfs.New()
	if err := b.Add(initramfs.HostFile(path, 0o755, bin)); err != nil {
		return "", fmt.Errorf("%s overlay: %w", path, err)
	}
	p := filepath.Join(dir, filepath.Base(path)+".cpio")
	if _, err := b.WriteFile(p, initramfs.None); err != nil {
		return "", fmt.Errorf("%s overlay: %w", path, err)
	}
	return p, nil
}

// Build builds the command pkg, statically linked, at out.
func Build(ctx context.Context, pkg, out string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// KVMPinPackage is the command that keeps the L1 kernel from patching its
// text while tests start and stop VMs; KVMPinPath is where the overlays put
// it and PinKVM is the /init snippet that starts it.
const (
	KVMPinPackage = "github.com/ironvisor/ironvisor/build/rack/kvmpin"
	KVMPinPath    = "/bin/kvmpin"
	PinKVM        = `if [ -x /bin/kvmpin ] && [ -e /dev/kvm ]; then
	/bin/kvmpin &
	for i in $(seq 600); do [ -e /tmp/kvmpin.ready ] && break; sleep 0.1; done
	[ -e /tmp/kvmpin.ready ] || { echo "KVMPIN-FAILED"; status=125; }
fi
`
)

// L2Boot is the /init snippet that defines `l2boot NAME ARGS...`: it runs
// `/bin/ironvisor vmm run ARGS...` ($l2vmm instead of /bin/ironvisor when
// set) with the guest's console in
// /tmp/NAME.log and the VMM's standard error in /tmp/NAME.err, killed
// after $l2deadline seconds (default 150), prints "L2-TRY NAME N", the
// console and the standard error, and ends with "RESULT NAME rc" (rc is
// also left in $rc).
//
// A boot that ends in a triple fault, or hangs until the deadline, prints
// "L2-LOST NAME N how" instead of the result and runs once more. The
// rack's KVM is nested SVM under QEMU's TCG, and that loses guests of
// QEMU microvm and of ironvisor alike, by triple faults and by hangs, at
// the same points of the boot and at rates that cannot be told apart
// (docs/benchmarks.md, the issue 16 sections): one loss says nothing about
// the VMM, and failing the test on it failed CI at random. Two losses in a
// row, or any other end, are the result; every loss stays in the log with
// the guest's console and the VMM's register report, and the Go side logs
// it.
const L2Boot = `l2boot() {
	l2name=$1; shift
	for l2try in 1 2; do
		echo "L2-TRY $l2name $l2try"
		: > /tmp/$l2name.log
		timeout -s KILL ${l2deadline:-150} ${l2vmm:-/bin/ironvisor} vmm run --console-log /tmp/$l2name.log "$@" 2>/tmp/$l2name.err; rc=$?
		cat /tmp/$l2name.log /tmp/$l2name.err
		l2lost=
		grep -q 'triple fault (KVM shutdown exit)' /tmp/$l2name.err && l2lost="triple fault"
		[ $rc = 137 ] && l2lost="no end in ${l2deadline:-150} s"
		if [ $l2try = 1 ] && [ -n "$l2lost" ]; then
			echo "L2-LOST $l2name $l2try $l2lost"
			continue
		fi
		break
	done
	echo "RESULT $l2name $rc"
}
`

// L2BootTry matches one try of `l2boot name` (L2Boot) in a console: group 1
// is the try's number, 2 its console and the VMM's standard error, 3 how it
// was lost (empty when it was not) and 4 the exit code of the last try
// (empty when the try was lost).
func L2BootTry(name string) *regexp.Regexp {
	q := regexp.QuoteMeta(name)
	return regexp.MustCompile(`L2-TRY ` + q + ` (\d+)\r?\n((?s:.*?))(?:L2-LOST ` + q + ` \d+ ([^\r\n]*)|RESULT ` + q + ` (\d+))\r?\n`)
}

// usesKVM reports whether modules loads a KVM vendor module.
func usesKVM(modules []string) bool {
	for _, m := range modules {
		if m == "kvm_amd" || m == "kvm_intel" {
			return true
		}
	}
	return false
}

// Tags are the build tags of test binaries that run in the rack. Tests that
// need what the hosts running make test lack (hardware KVM, VLAN and bonding,
// the cgroup v2 memory controller) carry the "rack" build constraint, so
// they are compiled only here and never show up as skips on the host.
const Tags = "rack"

// Compile builds the test binary of pkg, statically linked and with Tags, at
// out.
func Compile(ctx context.Context, pkg, out string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.CommandContext(ctx, goBin, "test", "-c", "-tags", Tags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// An L1 server under nested TCG sometimes freezes while it boots (soft
// lockups of every vCPU, before any test runs). Such a boot is stopped and
// started again: beginWithin bounds the boot to the test binary's first
// line, and bootAttempts the boots. Nothing is retried once the tests have
// begun.
const (
	beginWithin  = 3 * time.Minute
	bootAttempts = 2
)

// boot starts the server on initrds and waits for the exit marker.
func boot(ctx context.Context, set *artefacts.Set, initrds []string, dir string, o Options) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		srv, err := rack.Start(ctx, rack.Options{
			Name: "gotest", Kernel: set.HostKernel.Vmlinuz(), Initrds: initrds,
			Append: "console=ttyS0 quiet panic=-1", MemoryMiB: o.MemoryMiB, CPUs: o.CPUs,
			ForwardPorts: []int{}, LogDir: dir,
		})
		if err != nil {
			return nil, err
		}
		bctx, bcancel := context.WithTimeout(ctx, beginWithin)
		err = srv.Console.Expect(bctx, markBegin)
		bcancel()
		if err == nil {
			res, err := run(ctx, srv, o, start)
			srv.Stop()
			return res, err
		}
		srv.Stop()
		if attempt == bootAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("rack go test %s: boot %d of %d: %w", o.Package, attempt, bootAttempts, err)
		}
		fmt.Fprintf(os.Stderr, "L1-BOOT-RETRY rack go test %s: boot %d did not reach the tests within %v: %v\n",
			o.Package, attempt, beginWithin, err)
	}
}

// run waits for the exit marker of the tests that srv has begun.
func run(ctx context.Context, srv *rack.Server, o Options, start time.Time) (*Result, error) {
	m, err := srv.Console.ExpectRegexp(ctx, regexp.MustCompile(markExit+` (\d+)\r?\n`))
	if err != nil {
		return nil, fmt.Errorf("rack go test %s: %w", o.Package, err)
	}
	code, err := strconv.Atoi(m[1])
	if err != nil {
		return nil, fmt.Errorf("rack go test %s: exit marker %q: %w", o.Package, m[0], err)
	}
	console := srv.Console.String()
	out := console
	if i := strings.Index(out, markBegin); i >= 0 {
		out = out[i+len(markBegin):]
	}
	if i := strings.LastIndex(out, markExit+" "); i >= 0 {
		out = out[:i]
	}
	return &Result{Exit: code, Output: out, Console: console, Elapsed: time.Since(start)}, nil
}
