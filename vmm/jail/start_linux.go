package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Start creates the VM's root directory and cgroup and starts the VMM in
// fresh mount, PID, IPC, UTS and network namespaces, inside its cgroup from
// the first instruction (CLONE_INTO_CGROUP). The returned command is
// running; the caller must Wait for it and then call Cleanup.
//
// Start refuses an ID whose root directory or cgroup already exists: call
// Cleanup first for a VM left over from a previous run.
func Start(spec Spec) (*exec.Cmd, error) {
	s, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, ErrNotRoot)
	}
	parent, err := cgroupParent(s)
	if err != nil {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	root := rootDir(s.StateDir, s.ID)
	if err := os.MkdirAll(filepath.Dir(root), 0o700); err != nil {
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, fmt.Errorf("start jail %s: create root: %w", s.ID, err)
	}
	cmd, err := startIn(s, parent, root)
	if err != nil {
		os.RemoveAll(filepath.Dir(root))
		return nil, fmt.Errorf("start jail %s: %w", s.ID, err)
	}
	return cmd, nil
}

// startIn creates the cgroup leaf and starts the child in it.
func startIn(s Spec, parent, root string) (*exec.Cmd, error) {
	leaf, err := createLeaf(s, parent)
	if err != nil {
		return nil, err
	}
	stages := append(append([]ParentStage(nil), s.Stages...), ParentStage{"leaf", MonotonicNow()})
	cg, err := os.Open(leaf)
	if err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	defer cg.Close()
	// A binary that can run a syscall on all its threads (no cgo) gets its
	// ids set by the clone, before the exec (see execCredentials); a cgo
	// one sets them in Enter, as root.
	creds := execCredentials()
	exe := s.Path
	var extra []*os.File
	if creds && exe != "/proc/self/exe" {
		// The exec runs as the VMM's uid, which may not search the
		// directories above the binary: exec it through an fd the
		// supervisor opened (Enter closes it).
		f, err := os.OpenFile(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			removeLeaf(leaf)
			return nil, fmt.Errorf("open %s: %w", exe, err)
		}
		defer f.Close()
		extra = append(extra, f)
	}
	files := s.Files.extra()
	exeFD := 0
	if extra != nil {
		exeFD = 3 + len(files)
		exe = fmt.Sprintf("/proc/self/fd/%d", exeFD)
	}
	cfg, err := json.Marshal(childConfig{
		ID: s.ID, Root: root, UID: s.UID, GID: s.GID,
		Devices: s.Devices, Layout: layoutOf(s.Files),
		Creds: creds, ExeFD: exeFD,
		Stages: append(stages, ParentStage{"clone", MonotonicNow()}),
	})
	if err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("encode child config: %w", err)
	}
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
		UseCgroupFD: true,
		CgroupFD:    int(cg.Fd()),
		Setsid:      true,
	}
	keep := enterCaps
	if creds {
		attr.Credential = &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: []uint32{}}
		attr.AmbientCaps = ambientCaps
		keep = ambientCapSet
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        append([]string{"ironvisor-vmm"}, s.Args...),
		Env:         append(append([]string(nil), s.Env...), envConfig+"="+string(cfg)),
		Stdin:       s.Stdin,
		Stdout:      s.Stdout,
		Stderr:      s.Stderr,
		ExtraFiles:  append(files, extra...),
		SysProcAttr: attr,
	}
	start := s.StartCmd
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := startBounded(cmd, start, keep); err != nil {
		removeLeaf(leaf)
		return nil, fmt.Errorf("exec %s: %w", s.Path, err)
	}
	return cmd, nil
}

// enterCaps are the capabilities Enter needs before it drops privileges
// when it runs as root (a cgo VMM): mounts, pivot_root and sethostname;
// chroot (the rootfs fallback); setgroups/setresgid/setresuid; and
// dropping them from the bounding set.
var enterCaps = map[uintptr]bool{
	unix.CAP_SYS_ADMIN: true, unix.CAP_SYS_CHROOT: true,
	unix.CAP_SETGID: true, unix.CAP_SETUID: true, unix.CAP_SETPCAP: true,
}

// ambientCaps are the only capabilities of a VMM started with its ids
// already set (execCredentials): what Enter needs to build its root
// (mounts, pivot_root, sethostname, chroot), to reach the root directory
// below the root-only state directory (search), and to empty its
// bounding set. They arrive as ambient capabilities, so they are the
// VMM's effective set after the exec; Enter clears them all.
var ambientCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_DAC_READ_SEARCH, unix.CAP_SETPCAP,
}

// ambientCapSet is ambientCaps as a set: the bounding set the VMM starts
// with (an ambient capability must be in it).
var ambientCapSet = func() map[uintptr]bool {
	m := map[uintptr]bool{}
	for _, c := range ambientCaps {
		m[c] = true
	}
	return m
}()

// execCredentials reports whether the VMM is started with its uid, gid and
// empty groups set by the clone, before the exec, and the few capabilities
// Enter needs as ambient ones. Enter then changes no id, and clears the
// capabilities of all its threads with one all-thread capset, instead of
// the eight all-thread syscalls (each stops every thread of the VMM) that
// dropping root takes. That needs AllThreadsSyscall, which a cgo binary
// (a -race build) does not have; the VMM is built like the binary that
// starts it (CGO_ENABLED=0 in the Makefile, or the test binary
// re-executed), so the parent's own build decides.
var execCredentials = sync.OnceValue(func() bool { return !hasCgo() })

// startBounded starts cmd with start from a thread whose capability
// bounding set holds only keep, so the child (and every thread it ever
// has) starts with that bounding set, and Enter has only those few to
// drop. The thread is then unusable for anything else: its goroutine exits
// still locked, so the Go runtime ends the thread.
func startBounded(cmd *exec.Cmd, start func(*exec.Cmd) error, keep map[uintptr]bool) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		for c := uintptr(0); c <= 63; c++ {
			if keep[c] {
				continue
			}
			_, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
			if e == unix.EINVAL {
				break // past CAP_LAST_CAP
			}
			if e != 0 {
				errc <- fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
				return
			}
		}
		errc <- start(cmd)
	}()
	return <-errc
}

// rootDir is where the VM's root lives on the host.
func rootDir(stateDir, id string) string {
	return filepath.Join(stateDir, id, "root")
}

// Cleanup removes what Start created for spec.ID, using only spec's ID,
// StateDir and CgroupParent: it kills any process still in the VM's cgroup,
// removes the cgroup and removes StateDir/ID. It is idempotent, so an
// appliance can call it for every id List returns after a restart.
func Cleanup(spec Spec) error {
	if !ValidID(spec.ID) {
		return fmt.Errorf("jail: invalid VM id %q", spec.ID)
	}
	stateDir := spec.StateDir
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	var errs []error
	if parent, err := cgroupParent(spec); err != nil {
		errs = append(errs, err)
	} else if err := removeLeaf(filepath.Join(parent, spec.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(filepath.Join(stateDir, spec.ID)); err != nil {
		errs = append(errs, fmt.Errorf("remove root: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up jail %s: %w", spec.ID, err)
	}
	return nil
}

// List returns the ids that have a directory in stateDir (empty means
// DefaultStateDir): VMs running or left over from a previous run.
func List(stateDir string) ([]string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	ents, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list jails: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
