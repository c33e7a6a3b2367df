package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// TapSpec is one network interface of an instance: a tap created by netcfg
// and the guest's MAC address.
type TapSpec struct {
	Name, MAC string
}

// RunSpec describes one instance's VMM.
type RunSpec struct {
	ID       string
	VCPUs    int
	MemBytes uint64
	// Kernel and Initrd are host paths in the image store; Initrd may be "".
	Kernel, Initrd string
	Cmdline        string
	// RootVolume is the host path of the instance's own volume, "" if none.
	RootVolume string
	Taps       []TapSpec
	// ConsoleLog is the host path of the console log; it is truncated at
	// each Start.
	ConsoleLog string
}

// Runner starts and stops instance VMMs and reads their consoles.
type Runner interface {
	// Start returns when the VMM process runs and its control socket answers.
	Start(ctx context.Context, s RunSpec) error
	// Stop asks the guest to shut down (ACPI/Ctrl-Alt-Del) and forces it
	// after the graceful timeout; with force, it stops it at once. It
	// returns once the VMM process has ended.
	Stop(ctx context.Context, id string, force bool) error
	// Console returns up to max bytes of console output from offset off,
	// and the offset to ask for next.
	Console(ctx context.Context, id string, off int64, max int) ([]byte, int64, error)
}

// ErrNotRunning means the instance has no VMM process.
var ErrNotRunning = errors.New("supervisor: instance not running")

// ErrStarting means Stop was called while Start of the same instance had
// not yet started its VMM process.
var ErrStarting = errors.New("supervisor: instance is starting")

// ErrRunning means Start was called for an instance whose VMM still runs.
var ErrRunning = errors.New("supervisor: instance already running")

// DefaultGracefulTimeout is how long Stop waits for a guest to shut down
// before it forces the stop, when Options.GracefulTimeout is zero.
const DefaultGracefulTimeout = 30 * time.Second

// DefaultStartTimeout is how long Start waits for a VMM's control socket
// when Options.StartTimeout is zero (generous: nested virtualisation is
// slow).
const DefaultStartTimeout = time.Minute

// Options configure a Supervisor.
type Options struct {
	// StateDir holds the jail roots and per-instance files (see the package
	// doc). Required.
	StateDir string
	// Binary is the VMM executable, run as "BINARY vmm run ...": the lean
	// ironvisor-vmm or ironvisor itself; empty means DefaultBinary().
	Binary string
	// UID and GID start the ranges of IDs uids and gids VMMs run as, one
	// pair per instance (see InstanceIDs); both non-zero.
	UID, GID uint32
	// IDs is the size of the ranges; 0 means DefaultIDs.
	IDs uint32
	// CgroupParent is the cgroup v2 directory of the VMM cgroups; empty
	// means jail's default.
	CgroupParent string
	// Starter starts and waits for the VMM processes; nil means
	// reaper.Direct. On the appliance (PID 1) pass its *reaper.Reaper.
	Starter reaper.Starter
	// OnExit, if set, is called once for each VMM process that ended,
	// after its jail was cleaned up: also for one that exited before its
	// Start returned (Start then fails with the same reason).
	OnExit func(id string, reason string, crashed bool)
	// OnReset, if set, is called instead of OnExit when the guest reset
	// the machine (a reboot from inside: the VMM exits with
	// exitcode.Reset), so that the caller can start the instance's VMM
	// again as a bootloader would; without it a reset is an OnExit.
	OnReset func(id string, reason string)
	// GracefulTimeout bounds a graceful Stop; 0 means
	// DefaultGracefulTimeout.
	GracefulTimeout time.Duration
	// StartTimeout bounds how long Start waits for a new VMM's control
	// socket to answer before it kills the VMM; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// KVMDevice is the KVM device opened for each VMM; empty means
	// /dev/kvm.
	KVMDevice string
	// Unlimited runs VMMs without io limits, and then without memory, cpu
	// and pids limits, when the host's cgroup v2 lacks those controllers
	// (a cgroup v1 host); otherwise Start fails there.
	Unlimited bool
	// DiskLimits are each VMM's io.max limits on the disk that holds its
	// root volume (Major and Minor are ignored: the disk is found from the
	// volume); zero means DefaultDiskLimits.
	DiskLimits jail.IOLimit
}

// VMMBinaryName is the file name of the lean VMM binary
// (cmd/ironvisor-vmm), which DefaultBinary looks for beside the running
// executable.
const VMMBinaryName = "ironvisor-vmm"

// DefaultBinary returns the VMM binary to run: ironvisor-vmm in the
// directory of the running executable when it is there (make build and
// the appliance image put it there), else /proc/self/exe, the running
// ironvisor, whose `vmm run` is the same code with the whole appliance
// linked in (about 7 MiB more resident per VMM; docs/benchmarks.md).
func DefaultBinary() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), VMMBinaryName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return "/proc/self/exe"
}

// Binary returns the VMM binary the supervisor runs.
func (s *Supervisor) Binary() string { return s.opt.Binary }

// Supervisor runs instance VMMs. It implements Runner.
type Supervisor struct {
	opt Options

	mu   sync.Mutex
	live map[string]*instance // guarded by mu: VMMs not yet ended

	idMu sync.Mutex // serialises InstanceIDs' allocations and Forget
	// taken are the uids that instances hold, guarded by idMu; nil until
	// InstanceIDs first needs it (loadTaken).
	taken map[uint32]bool
}

var _ Runner = (*Supervisor)(nil)

// instance is one running VMM.
type instance struct {
	id   string
	kill func() error  // SIGKILL to the VMM process; guarded by Supervisor.mu, nil until Start has the process
	done chan struct{} // closed once the VMM ended and was cleaned up
	// reason and crashed say how it ended; set before done is closed.
	reason  string
	crashed bool
	// asked is set once a stop or reboot was asked of the VMM: a guest
	// reset after it ends that request (OnExit), and is not the guest's
	// own reboot (OnReset).
	asked atomic.Bool
}

// ended reports whether the VMM has ended and was cleaned up.
func (i *instance) ended() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// New returns a supervisor. It starts nothing: call Reattach to adopt the
// VMMs of a previous run.
func New(opt Options) (*Supervisor, error) {
	if opt.StateDir == "" {
		return nil, errors.New("supervisor: StateDir is required")
	}
	if err := opt.checkIDs(); err != nil {
		return nil, err
	}
	if opt.Binary == "" {
		opt.Binary = DefaultBinary()
	}
	if opt.Starter == nil {
		opt.Starter = reaper.Direct{}
	}
	if opt.GracefulTimeout == 0 {
		opt.GracefulTimeout = DefaultGracefulTimeout
	}
	if opt.StartTimeout == 0 {
		opt.StartTimeout = DefaultStartTimeout
	}
	if opt.KVMDevice == "" {
		opt.KVMDevice = "/dev/kvm"
	}
	for _, d := range []string{opt.jailDir(), filepath.Join(opt.StateDir, "vmm")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("supervisor: %w", err)
		}
	}
	return &Supervisor{opt: opt, live: map[string]*instance{}}, nil
}

// jailDir is the jail state directory.
func (o Options) jailDir() string { return filepath.Join(o.StateDir, "jail") }

// instDir is the per-instance directory of id.
func (o Options) instDir(id string) string { return filepath.Join(o.StateDir, "vmm", id) }

// socket is the control socket path of id.
func (o Options) socket(id string) string { return filepath.Join(o.instDir(id), "control.sock") }

// logPath is the VMM's stdout/stderr file of id.
func (o Options) logPath(id string) string { return filepath.Join(o.instDir(id), "vmm.log") }

// jailSpec is the part of a jail.Spec that names id's jail, enough for
// jail.Cleanup and jail.ReadStats.
func (o Options) jailSpec(id string) jail.Spec {
	return jail.Spec{ID: id, StateDir: o.jailDir(), CgroupParent: o.CgroupParent}
}

// Running returns the ids of the VMMs the supervisor watches.
func (s *Supervisor) Running() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.live))
	for id := range s.live {
		ids = append(ids, id)
	}
	return ids
}

// lookup returns the live instance id, or nil.
func (s *Supervisor) lookup(id string) *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id]
}

// Stop stops the VMM of id: gracefully through its control socket (forced
// after Options.GracefulTimeout), or at once with force. If the control
// socket does not answer, the process is killed. Stop returns once the VMM
// has ended and OnExit has been called.
func (s *Supervisor) Stop(ctx context.Context, id string, force bool) error {
	return s.stop(ctx, id, force, s.opt.GracefulTimeout)
}

// StopWithin is a graceful Stop that forces the stop after graceful
// instead of Options.GracefulTimeout.
func (s *Supervisor) StopWithin(ctx context.Context, id string, graceful time.Duration) error {
	return s.stop(ctx, id, false, graceful)
}

// Reboot asks the guest of id to end its VM in order (the ACPI power
// button, then Ctrl-Alt-Del: a poweroff or a reset) and waits for that,
// which ends its VMM; after Options.GracefulTimeout the VMM stops it by force. If the
// control socket does not answer, the process is killed. Reboot returns
// once the VMM has ended and OnExit (not OnReset: the caller starts the
// next VMM) has been called.
func (s *Supervisor) Reboot(ctx context.Context, id string) error {
	return s.end(ctx, "reboot", id, func(c *control.Client) error {
		_, err := c.Reboot(ctx, s.opt.GracefulTimeout)
		return err
	})
}

// stop is Stop with the graceful timeout given.
func (s *Supervisor) stop(ctx context.Context, id string, force bool, graceful time.Duration) error {
	return s.end(ctx, "stop", id, func(c *control.Client) error {
		if force {
			return c.Kill(ctx)
		}
		_, err := c.Stop(ctx, graceful)
		return err
	})
}

// end asks id's VMM, through ask on its control socket, to end (what says
// which request, for errors), kills it if that fails, and waits until it
// has ended. A guest reset from then on is reported with OnExit.
func (s *Supervisor) end(ctx context.Context, what, id string, ask func(c *control.Client) error) error {
	s.mu.Lock()
	inst := s.live[id]
	var kill func() error
	if inst != nil {
		kill = inst.kill
	}
	s.mu.Unlock()
	switch {
	case inst == nil:
		return fmt.Errorf("%s %s: %w", what, id, ErrNotRunning)
	case kill == nil:
		return fmt.Errorf("%s %s: %w", what, id, ErrStarting)
	}
	inst.asked.Store(true)
	if err := s.ask(ctx, id, ask); err != nil && !inst.ended() {
		if kerr := kill(); kerr != nil {
			return fmt.Errorf("%s %s: %w (kill: %v)", what, id, err, kerr)
		}
	}
	select {
	case <-inst.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", what, id, ctx.Err())
	}
}

// ask dials id's control socket and runs f on it.
func (s *Supervisor) ask(ctx context.Context, id string, f func(c *control.Client) error) error {
	c, err := control.DialContext(ctx, s.opt.socket(id))
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}
