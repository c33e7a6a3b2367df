package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/control"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// meta is what the supervisor keeps about an instance across its VMM's
// end and an appliance restart.
type meta struct {
	ConsoleLog string `json:"console_log"`
	// UID and GID are what the VMM runs as; 0 until InstanceIDs gives
	// them.
	UID uint32 `json:"uid,omitempty"`
	GID uint32 `json:"gid,omitempty"`
}

// Start starts the VMM of spec in its jail and returns once its control
// socket answers. If the VMM exits first, the error carries its message.
func (s *Supervisor) Start(ctx context.Context, spec RunSpec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	s.mu.Lock()
	if s.live[spec.ID] != nil {
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", spec.ID, ErrRunning)
	}
	inst := &instance{id: spec.ID, done: make(chan struct{})}
	s.live[spec.ID] = inst // reserved: a second Start now fails
	s.mu.Unlock()
	cmd, err := s.launch(spec)
	if err != nil {
		os.Remove(s.opt.socket(spec.ID))
		s.mu.Lock()
		delete(s.live, spec.ID)
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	s.mu.Lock()
	inst.kill = func() error { return ignoreGone(cmd.Process.Kill()) }
	s.mu.Unlock()
	go s.watchChild(inst, cmd)
	return s.awaitReady(ctx, inst)
}

// checkSpec refuses a spec the VMM could not run.
func checkSpec(spec RunSpec) error {
	switch {
	case !jail.ValidID(spec.ID):
		return fmt.Errorf("start: invalid instance id %q", spec.ID)
	case spec.VCPUs < 1:
		return fmt.Errorf("start %s: %d vCPUs", spec.ID, spec.VCPUs)
	case spec.MemBytes < 1<<20:
		return fmt.Errorf("start %s: %d bytes of memory", spec.ID, spec.MemBytes)
	case spec.Kernel == "":
		return fmt.Errorf("start %s: no kernel", spec.ID)
	case spec.ConsoleLog == "":
		return fmt.Errorf("start %s: no console log path", spec.ID)
	}
	return nil
}

// launch opens the VMM's files and starts it in its jail. It passes the
// times of its steps to the VMM, which logs them in its start stages line
// (jail.ParentStages): "sup_ids" once the ids and meta file are written,
// "sup_files" once every file is open, right before jail.Start.
func (s *Supervisor) launch(spec RunSpec) (*exec.Cmd, error) {
	uid, gid, err := s.InstanceIDs(spec.ID)
	if err != nil {
		return nil, err
	}
	if err := s.writeMeta(spec.ID, meta{ConsoleLog: spec.ConsoleLog, UID: uid, GID: gid}); err != nil {
		return nil, err
	}
	idsAt := jail.MonotonicNow()
	var o openFiles
	defer o.close()
	files, err := s.openAll(&o, spec)
	if err != nil {
		return nil, err
	}
	log, err := o.open(s.opt.logPath(spec.ID), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND)
	if err != nil {
		return nil, err
	}
	js := s.opt.jailSpec(spec.ID)
	js.Path, js.UID, js.GID = s.opt.Binary, uid, gid
	js.MemoryMax, js.CPUs = jail.MemoryBudget(int64(spec.MemBytes)), float64(spec.VCPUs)
	js.PidsMax = jail.PidsBudget(spec.VCPUs)
	js.IOMax, js.IOWeight = s.opt.ioLimits(files)
	js.Files, js.Args = files, vmmArgs(spec, files)
	js.Stdout, js.Stderr = log, log
	js.Env = VMMEnv
	js.StartCmd = s.opt.Starter.Start
	js.Stages = []jail.ParentStage{{Name: "sup_ids", Mono: idsAt}, {Name: "sup_files", Mono: jail.MonotonicNow()}}
	cmd, err := jail.Start(js)
	if errors.Is(err, jail.ErrNoController) && s.opt.Unlimited {
		// Fairness first: the io controller is the one most often missing.
		js.IOMax, js.IOWeight = nil, 0
		cmd, err = jail.Start(js)
	}
	if errors.Is(err, jail.ErrNoController) && s.opt.Unlimited {
		js.MemoryMax, js.CPUs, js.PidsMax = 0, 0, 0
		cmd, err = jail.Start(js)
	}
	return cmd, err
}

// DefaultDiskLimits are the io.max limits of a VMM on the disk that holds
// its root volume when Options.DiskLimits is zero: the baseline of an EC2
// gp3 volume (3000 IOPS and 125 MiB/s, each way).
var DefaultDiskLimits = jail.IOLimit{
	ReadBPS: 125 << 20, WriteBPS: 125 << 20, ReadIOPS: 3000, WriteIOPS: 3000,
}

// ioLimits returns the io.max lines and io.weight of a VMM with files:
// DiskLimits (or DefaultDiskLimits) on the disk of each volume whose disk
// is known, and in any case io.weight 100, the kernel's default, which
// gives every VMM an equal share of what is left once it has its own io
// cgroup (and is all a VMM gets when its volume's disk is not known, on
// tmpfs for instance).
func (o Options) ioLimits(f jail.Files) ([]jail.IOLimit, int) {
	l := o.DiskLimits
	if l == (jail.IOLimit{}) {
		l = DefaultDiskLimits
	}
	var out []jail.IOLimit
	for _, d := range f.Disks {
		maj, min, ok, err := jail.DiskDevice(d)
		if err != nil || !ok {
			continue
		}
		l.Major, l.Minor = maj, min
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, 100
}

// openAll opens on the host every file the VMM receives.
func (s *Supervisor) openAll(o *openFiles, spec RunSpec) (jail.Files, error) {
	var f jail.Files
	var err error
	if f.KVM, err = o.open(s.opt.KVMDevice, os.O_RDWR); err != nil {
		return f, err
	}
	os.Remove(s.opt.socket(spec.ID))
	if f.Control, err = control.ListenFile(s.opt.socket(spec.ID)); err != nil {
		return f, err
	}
	o.files = append(o.files, f.Control)
	if f.Console, err = o.open(spec.ConsoleLog, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND); err != nil {
		return f, err
	}
	if f.Kernel, err = o.open(spec.Kernel, os.O_RDONLY); err != nil {
		return f, err
	}
	if spec.Initrd != "" {
		if f.Initrd, err = o.open(spec.Initrd, os.O_RDONLY); err != nil {
			return f, err
		}
	}
	if spec.RootVolume != "" {
		d, err := o.open(spec.RootVolume, os.O_RDWR)
		if err != nil {
			return f, err
		}
		f.Disks = append(f.Disks, d)
	}
	for _, t := range spec.Taps {
		tap, err := jail.OpenTap(t.Name)
		if err != nil {
			return f, err
		}
		o.files = append(o.files, tap)
		// Passed blocking: the jailed child wraps every inherited fd in
		// an *os.File before the VMM adopts the tap. A non-blocking fd
		// would be registered with the child's netpoller by that first
		// wrapper, and the VMM's own (made non-blocking, then wrapped)
		// could no longer be, leaving the tap unpollable.
		if err := unix.SetNonblock(int(tap.Fd()), false); err != nil {
			return f, fmt.Errorf("tap %s: %w", t.Name, err)
		}
		f.Taps = append(f.Taps, tap)
	}
	return f, nil
}

// VMMEnv is the whole environment of every VMM the supervisor starts.
// GODEBUG=disablethp=1 keeps the Go heap off transparent huge pages
// (Debian's default is "always"), which would otherwise round a VMM's few
// MiB of heap up in 2 MiB steps; the runtime reads it only at start, so
// the parent sets it (docs/benchmarks.md has the measurements).
var VMMEnv = []string{"GODEBUG=disablethp=1"}

// vmmArgs is the `ironvisor vmm run` command line for spec with files.
func vmmArgs(spec RunSpec, f jail.Files) []string {
	a := []string{"vmm", "run",
		"--kvm", jail.FDArg(jail.FDKVM),
		"--control", jail.FDArg(jail.FDControl),
		"--console-log", jail.FDArg(jail.FDConsole),
		"--kernel", jail.FDArg(jail.FDKernel),
		"--cmdline", spec.Cmdline,
		"--mem", strconv.FormatUint(spec.MemBytes, 10),
		"--cpus", strconv.Itoa(spec.VCPUs),
	}
	a = append(a, smbiosArgs(spec.ID)...)
	// A jailed VMM sees no /sys: tell it the host's KVM flavour for its
	// PVM guard.
	if k := kvm.DetectKind("/sys"); k != kvm.KindNone {
		a = append(a, "--kvm-kind", string(k))
	}
	if f.Initrd != nil {
		a = append(a, "--initrd", jail.FDArg(jail.FDInitrd))
	}
	for i := range f.Disks {
		a = append(a, "--disk", jail.FDArg(f.DiskFD(i)))
	}
	for i, t := range spec.Taps {
		v := jail.FDArg(f.TapFD(i))
		if t.MAC != "" {
			v += ",mac=" + t.MAC
		}
		a = append(a, "--tap", v)
	}
	return a
}

// openFiles collects the files Start opened; the VMM holds its own copies
// once it runs, so the supervisor closes them all.
type openFiles struct{ files []*os.File }

// open opens name with flag (and O_CLOEXEC) and remembers it.
func (o *openFiles) open(name string, flag int) (*os.File, error) {
	f, err := os.OpenFile(name, flag, 0o640)
	if err != nil {
		return nil, err
	}
	o.files = append(o.files, f)
	return f, nil
}

// close closes every file opened.
func (o *openFiles) close() {
	for _, f := range o.files {
		f.Close()
	}
}

// awaitReady waits until the VMM answers a status request on its control
// socket, or ends.
func (s *Supervisor) awaitReady(ctx context.Context, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.StartTimeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() {
		c, err := control.DialContext(ctx, s.opt.socket(inst.id))
		if err == nil {
			_, err = c.Status(ctx)
			c.Close()
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return nil
		}
		select {
		case <-inst.done:
			return fmt.Errorf("start %s: vmm exited: %s", inst.id, inst.reason)
		case <-ctx.Done():
		}
		// Hung before serving its socket: kill it, and report its last word.
		inst.kill()
		<-inst.done
		return fmt.Errorf("start %s: control socket: %w (vmm: %s)", inst.id, err, inst.reason)
	case <-inst.done:
		return fmt.Errorf("start %s: vmm exited: %s", inst.id, inst.reason)
	}
}
