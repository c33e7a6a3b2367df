// Package bootjail runs package bootsel on an untrusted disk in a jailed
// child process, so that a bug in the GPT or ext4 readers runs with none
// of the appliance's privileges (issue 12: "in user space inside a jail").
//
// The parent (Config.Read) opens the disk read-only and starts the running
// binary again through vmm/jail: fresh mount, PID, IPC, UTS and network
// namespaces, an empty read-only root, an unprivileged uid, its own cgroup
// and the VMM's seccomp allow-list, sealed (jail.Seal) before the first
// byte of the disk is read. The child (Main) gets the disk as an fd and
// two pipes; it writes the kernel to the first and the initrd to the
// second, and its findings (or the error, as text) as one JSON object on
// stdout. The parent copies the pipes into the caller's writers, bounded
// by Request.MaxKernel and MaxInitrd whatever the child says, kills the
// child when it outlives Config.Timeout, and removes its jail in every
// case.
//
// The binary must dispatch the child before anything else: cmd/ironvisor
// runs Main for its "bootjail" command (jail.IsChild is set there, so the
// PID 1 check lets it through), and a test binary whose tests read disks
// calls Main from TestMain when IsChild.
package bootjail

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// Command is the first argument of the child: the ironvisor subcommand
// that runs Main.
const Command = "bootjail"

// Defaults of Config.
const (
	// DefaultUID and DefaultGID are what the child runs as: just below
	// the VMMs' range (1<<30 upwards, appliance/service), so it shares
	// no id with a VMM, a distribution's users or a container's range.
	DefaultUID, DefaultGID = 1<<30 - 1, 1<<30 - 1
	// DefaultTimeout bounds one read: the jail's start, the parse and the
	// copy of at most a 256 MiB kernel and a 1 GiB initrd.
	DefaultTimeout = 2 * time.Minute
	// memoryMax is the child's memory.max: the parse keeps metadata
	// blocks and a copy buffer, never a whole file.
	memoryMax = 256 << 20
	// maxReport bounds what the parent reads of the child's stdout and
	// stderr.
	maxReport = 64 << 10
)

// Config says where and as whom the child runs. The zero value runs it
// with the defaults below.
type Config struct {
	// StateDir holds the child's jail root while it runs; empty means
	// jail.DefaultStateDir.
	StateDir string
	// CgroupParent is the cgroup v2 directory of its cgroup; empty means
	// the jail's default.
	CgroupParent string
	// UID and GID are what the child runs as; 0 means DefaultUID and
	// DefaultGID.
	UID, GID uint32
	// Timeout bounds one Read; 0 means DefaultTimeout.
	Timeout time.Duration
	// Starter starts and waits for the child; nil means reaper.Direct.
	// PID 1 passes its reaper.
	Starter reaper.Starter
	// Env is added to the child's (otherwise empty) environment.
	Env []string
}

// Request is what to look for.
type Request struct {
	// Cmdline follows root=... (bootsel.Options.Cmdline).
	Cmdline string `json:"cmdline,omitempty"`
	// MaxKernel and MaxInitrd bound the files; both are required.
	MaxKernel int64 `json:"max_kernel"`
	MaxInitrd int64 `json:"max_initrd"`
}

// Result is what the child found. Kernel and initrd are the bytes the
// parent received, not what the child claims.
type Result struct {
	KernelPath    string `json:"kernel_path"`
	InitrdPath    string `json:"initrd_path,omitempty"`
	Root          string `json:"root"`
	RootPartition int    `json:"root_partition"`
	Cmdline       string `json:"cmdline"`
	NeedsRecovery bool   `json:"needs_recovery,omitempty"`
	// KernelSize and InitrdSize are what went through the pipes; an
	// initrd of size 0 means the disk has none (InitrdPath is "").
	KernelSize int64 `json:"kernel_size"`
	InitrdSize int64 `json:"initrd_size"`
	// PID is the child's own pid, as it saw it: 1, in its own PID
	// namespace. (Its uid it cannot ask for: getuid is not in the
	// seccomp allow-list.)
	PID int `json:"pid"`
}

// Stages of a ParseError.
const (
	StageFind   = "find"   // bootsel.Find refused the disk
	StageKernel = "kernel" // reading the kernel failed
	StageInitrd = "initrd" // reading the initrd failed
)

// ParseError is the disk's fault: the child could not find or read what
// boots it. Other errors (the jail, a crash, a timeout, the writers) are
// the appliance's.
type ParseError struct {
	Stage string // StageFind, StageKernel or StageInitrd
	Path  string // the file's path on the disk, for the kernel and initrd
	Msg   string
}

func (e *ParseError) Error() string { return e.Msg }

// ErrChild wraps every failure of the child process itself: it could not
// be jailed, it crashed, it hung past the timeout or it reported nonsense.
var ErrChild = errors.New("boot reader child failed")

// IsChild reports whether this process is the jailed child: call Main.
func IsChild() bool {
	return jail.IsChild() && len(os.Args) > 1 && os.Args[1] == Command
}

// withDefaults fills in c's defaults.
func (c Config) withDefaults() Config {
	if c.UID == 0 || c.GID == 0 {
		c.UID, c.GID = DefaultUID, DefaultGID
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Starter == nil {
		c.Starter = reaper.Direct{}
	}
	return c
}

// spec is the jail of one child.
func (c Config) spec(id string) jail.Spec {
	return jail.Spec{
		ID: id, StateDir: c.StateDir, CgroupParent: c.CgroupParent,
		UID: c.UID, GID: c.GID,
		MemoryMax: memoryMax, PidsMax: int64(runtime.NumCPU()) + 32,
		Devices: []string{"/dev/null"},
		Env:     c.Env, StartCmd: c.Starter.Start,
	}
}

// CleanLeftovers removes the jails of children that a previous run of the
// appliance left behind (it died while one ran): their processes are
// killed and their roots and cgroups removed.
func (c Config) CleanLeftovers() error {
	ids, err := jail.List(c.StateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if len(id) > len(idPrefix) && id[:len(idPrefix)] == idPrefix {
			errs = append(errs, jail.Cleanup(c.spec(id)))
		}
	}
	return errors.Join(errs...)
}

// idPrefix starts the jail id of every child.
const idPrefix = "bootjail-"

// errf is a child failure.
func errf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrChild}, a...)...)
}
