package jail

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Default paths and limits.
const (
	// DefaultStateDir holds one directory per jailed VM: StateDir/ID/root.
	DefaultStateDir = "/run/ironvisor/jail"
	// DefaultCgroupName is the cgroup, under the cgroup v2 mount, that holds
	// one leaf per VM when Spec.CgroupParent is empty.
	DefaultCgroupName = "ironvisor"
	// OverheadBase is the fixed part of a VMM's memory budget beyond guest
	// RAM: the Go runtime, heap, thread stacks and device buffers.
	OverheadBase = 32 << 20
	// cpuPeriod is the cpu.max period in microseconds.
	cpuPeriod = 100000
)

// DefaultDevices are the host device nodes a jailed VMM sees when
// Spec.Devices is nil.
var DefaultDevices = []string{"/dev/null", "/dev/urandom"}

// ErrNotRoot means the jail needs privileges it does not have.
var ErrNotRoot = errors.New("jail: must run as root")

// ErrNoController means a cgroup v2 controller needed for a limit is not
// available to the cgroup parent (for example because a cgroup v1 hierarchy
// holds it).
var ErrNoController = errors.New("jail: cgroup v2 controller not available")

// ValidID reports whether id may name a VM: 1 to 64 bytes of ASCII
// letters, digits, '_', '.' and '-', starting with a letter or digit. It
// becomes a directory name, a cgroup name and the hostname. (Checked by
// hand rather than by a regexp, whose compilation would run in every VMM
// process's start.)
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// Spec describes one jailed VMM process. Zero values mean the default that
// each field states.
type Spec struct {
	// ID names the VM: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. Required.
	ID string
	// Path is the executable; empty means /proc/self/exe (the running
	// binary re-executed).
	Path string
	// Args are argv[1:] of the VMM, for example {"vmm", "run", ...}.
	Args []string
	// Env is the VMM's environment; the jail adds its own variable.
	Env []string
	// StateDir holds the per-VM root directories; empty means
	// DefaultStateDir.
	StateDir string
	// CgroupParent is the cgroup v2 directory holding the VM's leaf; empty
	// means DefaultCgroupName under the first cgroup2 mount.
	CgroupParent string
	// UID and GID are what the VMM runs as; both must be non-zero.
	UID, GID uint32
	// MemoryMax is memory.max in bytes; 0 leaves it at "max". See
	// MemoryBudget.
	MemoryMax int64
	// CPUs is cpu.max as a number of CPUs (quota/period); 0 leaves it at
	// "max".
	CPUs float64
	// PidsMax is pids.max, the most tasks (threads included) the VMM may
	// have; 0 leaves it at "max". See PidsBudget.
	PidsMax int64
	// IOMax are the lines of io.max, one per block device; nil writes
	// none.
	IOMax []IOLimit
	// IOWeight is the default io.weight (1 to 10000; the kernel's default
	// is 100); 0 leaves it.
	IOWeight int
	// Devices are host device nodes bind-mounted at the same path inside
	// the root; nil means DefaultDevices.
	Devices []string
	// Files are passed to the VMM with the fixed numbering of Files.
	Files Files
	// StartCmd starts the prepared command; nil means cmd.Start. On the
	// appliance pass the PID 1 reaper's Start (appliance/reaper), so that
	// the reaper leaves the VMM's exit status to the caller's Wait. It must
	// call cmd.Start on the calling goroutine: Start calls it from a
	// thread with a reduced capability bounding set, which the child
	// inherits.
	StartCmd func(cmd *exec.Cmd) error
	// Stdin, Stdout and Stderr are the VMM's standard streams; nil means
	// /dev/null.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Stages are the caller's steps of this start so far (MonotonicNow
	// times); Start adds its own and passes them to the VMM, which logs
	// them (ParentStages).
	Stages []ParentStage
}

// Files are the open files a jailed VMM receives. A nil entry is not passed.
// Their fd numbers in the child are fixed:
//
//	3  KVM      /dev/kvm
//	4  Control  the control socket listener (a bound, listening unix socket)
//	5  Console  the console log (opened for append)
//	6  Kernel   the guest kernel image
//	7  Initrd   the guest initrd
//	8… Disks    one per disk, in order
//	…  Taps     one per tap, in order, right after the disks
type Files struct {
	KVM, Control, Console, Kernel, Initrd *os.File
	Disks, Taps                           []*os.File
}

// Fixed fd numbers of Files in the jailed child.
const (
	FDKVM     = 3
	FDControl = 4
	FDConsole = 5
	FDKernel  = 6
	FDInitrd  = 7
	FDDisk0   = 8
)

// DiskFD returns the fd number disk i has in the child.
func (f Files) DiskFD(i int) int { return FDDisk0 + i }

// TapFD returns the fd number tap i has in the child.
func (f Files) TapFD(i int) int { return FDDisk0 + len(f.Disks) + i }

// extra flattens f into exec.Cmd.ExtraFiles order (fd 3 upwards).
func (f Files) extra() []*os.File {
	out := []*os.File{f.KVM, f.Control, f.Console, f.Kernel, f.Initrd}
	out = append(out, f.Disks...)
	return append(out, f.Taps...)
}

// IOLimit is one line of io.max: the VMM's limits on the block device
// Major:Minor (a whole disk: see DiskDevice). A zero limit is "max".
type IOLimit struct {
	Major, Minor                           uint32
	ReadBPS, WriteBPS, ReadIOPS, WriteIOPS uint64
}

// PidsBudget returns a pids.max for a VMM with vcpus vCPUs: one thread per
// vCPU (each locked to its thread), as many as Go may run at once
// (GOMAXPROCS is at most the host's CPUs), and 32 for the runtime's own
// threads (sysmon, the template thread) and those blocked in disk I/O.
// The Go runtime dies when it cannot create a thread, so the bound is
// loose enough never to be reached by a VMM, and tight enough that a
// compromised one cannot exhaust the host's pid space.
func PidsBudget(vcpus int) int64 {
	return int64(vcpus) + int64(runtime.NumCPU()) + 32
}

// MemoryBudget returns a memory.max for a VM with guestRAM bytes of RAM:
// guest RAM, plus OverheadBase, plus 1/64 of the RAM for page tables and
// per-page bookkeeping.
func MemoryBudget(guestRAM int64) int64 {
	return guestRAM + OverheadBase + guestRAM/64
}

// validate checks s and fills in defaults in a copy.
func (s Spec) validate() (Spec, error) {
	if !ValidID(s.ID) {
		return s, fmt.Errorf("jail: invalid VM id %q", s.ID)
	}
	if s.UID == 0 || s.GID == 0 {
		return s, fmt.Errorf("jail %s: uid and gid must be non-zero (got %d:%d)", s.ID, s.UID, s.GID)
	}
	if s.MemoryMax < 0 || s.CPUs < 0 || s.PidsMax < 0 {
		return s, fmt.Errorf("jail %s: negative limit (memory %d, cpus %g, pids %d)", s.ID, s.MemoryMax, s.CPUs, s.PidsMax)
	}
	if s.IOWeight < 0 || s.IOWeight > 10000 {
		return s, fmt.Errorf("jail %s: io.weight %d out of 1..10000", s.ID, s.IOWeight)
	}
	if s.Path == "" {
		s.Path = "/proc/self/exe"
	}
	if s.StateDir == "" {
		s.StateDir = DefaultStateDir
	}
	if s.Devices == nil {
		s.Devices = DefaultDevices
	}
	for _, d := range s.Devices {
		if len(d) < 2 || d[0] != '/' || containsDotDot(d) {
			return s, fmt.Errorf("jail %s: invalid device path %q", s.ID, d)
		}
	}
	return s, nil
}

// containsDotDot reports whether the absolute path p has a ".." element.
func containsDotDot(p string) bool {
	return strings.Contains(p+"/", "/../")
}
