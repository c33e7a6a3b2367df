package jail

// The jailed half of the tests: the test binary re-executes itself through
// Start, and TestMain sends the child here.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// envMode selects what the jailed test child does.
const envMode = "JAIL_TEST_MODE"

// report is what the "inspect" child writes to its console fd as JSON.
type report struct {
	PID        int
	UIDs, GIDs [3]int
	Groups     []int
	Hostname   string
	CapEff     uint64
	CapPrm     uint64
	Bounding   int // capabilities still in the bounding set
	Root, Dev  []string
	PasswdErr  string
	DiskHead   string
	ROErr      string
	Random     int
	Workload   string
	// ThreadCaps are the permitted|effective|inheritable capabilities of
	// threads that existed before Enter, read after its privilege drop.
	ThreadCaps []uint64
	// AfterFiles is the inode of whatever is open at the first fd after
	// the passed files (0: nothing): never the executable.
	AfterFiles uint64
	// Stages are the parent's steps of the start, as the child got them.
	Stages []ParentStage
}

// childMain runs in the jailed child and returns its exit code.
func childMain(mode string) int {
	var err error
	switch mode {
	case "inspect":
		err = inspect()
	case "oom":
		err = oom()
	case "noop":
		_, err = Enter()
	case "block":
		err = block()
	case "peek":
		err = peek()
	default:
		err = forbidden(mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	return 0
}

// inspect observes the confinement before seccomp, then does VMM-like work
// under the real filter and reports.
func inspect() error {
	var r report
	tids := parkThreads(3)
	files, err := enter(func(f Files) {
		observe(&r)
		r.ThreadCaps = threadCaps(tids)
		var st unix.Stat_t
		if unix.Fstat(FDDisk0+len(f.Disks)+len(f.Taps), &st) == nil {
			r.AfterFiles = st.Ino
		}
	})
	if err != nil {
		return err
	}
	r.Stages = ParentStages()
	if _, err := os.Stat("/etc/passwd"); err != nil {
		r.PasswdErr = err.Error()
	}
	if err := workload(files, &r); err != nil {
		r.Workload = err.Error()
	} else {
		r.Workload = "ok"
	}
	return json.NewEncoder(files.Console).Encode(r)
}

// observe records the process identity the jail set up.
func observe(r *report) {
	r.PID = os.Getpid()
	ru, eu, su := unix.Getresuid()
	rg, eg, sg := unix.Getresgid()
	r.UIDs, r.GIDs = [3]int{ru, eu, su}, [3]int{rg, eg, sg}
	r.Groups, _ = unix.Getgroups()
	var u unix.Utsname
	unix.Uname(&u)
	r.Hostname = unix.ByteSliceToString(u.Nodename[:])
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	unix.Capget(&hdr, &data[0])
	r.CapEff = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	r.CapPrm = uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	for c := 0; c < 64; c++ {
		if v, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && v == 1 {
			r.Bounding++
		}
	}
	r.Root = names("/")
	r.Dev = names("/dev")
}

// parkThreads starts n goroutines, each locked to a thread of its own for
// the rest of the process, and returns the threads' ids.
func parkThreads(n int) []int {
	tids := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			tids <- unix.Gettid()
			select {}
		}()
	}
	var out []int
	for i := 0; i < n; i++ {
		out = append(out, <-tids)
	}
	return out
}

// threadCaps returns permitted|effective|inheritable of each thread in
// tids (all ones if capget fails).
func threadCaps(tids []int) []uint64 {
	var out []uint64
	for _, tid := range tids {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(tid)}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			out = append(out, ^uint64(0))
			continue
		}
		var v uint64
		for i, d := range data {
			v |= uint64(d.Permitted|d.Effective|d.Inheritable) << (32 * i)
		}
		out = append(out, v)
	}
	return out
}

// names lists a directory.
func names(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// workload does what a VMM does, under seccomp.
func workload(files Files, r *report) error {
	disk := files.Disks[0]
	head := make([]byte, 5)
	if _, err := disk.ReadAt(head, 0); err != nil {
		return fmt.Errorf("pread disk: %w", err)
	}
	r.DiskHead = string(head)
	if _, err := disk.WriteAt([]byte("jailed"), 100); err != nil {
		return fmt.Errorf("pwrite disk: %w", err)
	}
	if err := disk.Sync(); err != nil {
		return fmt.Errorf("fsync disk: %w", err)
	}
	if _, err := os.OpenFile("/new", os.O_CREATE|os.O_WRONLY, 0o600); err != nil {
		r.ROErr = err.Error()
	}
	if err := devices(r); err != nil {
		return err
	}
	if err := guestMemory(); err != nil {
		return err
	}
	if err := eventfdPoll(); err != nil {
		return err
	}
	threads()
	return allowedIoctls()
}

// devices uses the device nodes the jail bind-mounted.
func devices(r *report) error {
	rnd, err := os.Open("/dev/urandom")
	if err != nil {
		return err
	}
	defer rnd.Close()
	buf := make([]byte, 16)
	r.Random, err = rnd.Read(buf)
	if err != nil {
		return err
	}
	null, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	_, err = null.Write(buf)
	return err
}

// guestMemory maps, touches and releases anonymous memory as guest RAM is.
func guestMemory() error {
	m, err := unix.Mmap(-1, 0, 16<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
	if err := unix.Madvise(m, unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("madvise: %w", err)
	}
	return unix.Munmap(m)
}

// eventfdPoll reads an eventfd through the netpoller with a deadline, as
// the ioeventfd goroutines do.
func eventfdPoll() error {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(fd), "eventfd")
	defer ev.Close()
	go ev.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	ev.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	if _, err := ev.Read(buf); err != nil {
		return fmt.Errorf("eventfd read: %w", err)
	}
	return nil
}

// threads runs locked OS threads (like vCPUs), allocation, GC and timers.
func threads() {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			var keep [][]byte
			for j := 0; j < 1000; j++ {
				keep = append(keep, make([]byte, 1024))
			}
			runtime.GC()
			<-time.After(time.Millisecond)
			_ = keep
		}()
	}
	wg.Wait()
}

// forbidden enters the jail and then makes one syscall outside the
// allow-list from a fresh locked thread. It returns only if the syscall did
// not kill the process.
func forbidden(name string) error {
	files, err := Enter()
	if err != nil {
		return err
	}
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		done <- forbiddenCall(name)
	}()
	err = <-done
	fmt.Fprintf(files.Console, "survived %s: %v\n", name, err)
	return nil
}

// forbiddenCall makes the named forbidden syscall.
func forbiddenCall(name string) error {
	switch name {
	case "mount":
		return unix.Mount("none", "/", "tmpfs", 0, "")
	case "ptrace":
		_, _, e := unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		return e
	case "execve":
		return syscall.Exec("/dev/null", []string{"x"}, nil)
	case "socket":
		_, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		return err
	case "unshare":
		return unix.Unshare(unix.CLONE_NEWUSER)
	case "SIOCSIFHWADDR":
		return ioctl(unix.SIOCSIFHWADDR)
	case "TUNSETIFF":
		return ioctl(unix.TUNSETIFF)
	case "KVM_CREATE_VM after Seal":
		if err := Seal(); err != nil {
			return err
		}
		return ioctl(kvmCreateVM)
	case "KVM_CREATE_VM|1<<32 after Seal":
		if err := Seal(); err != nil {
			return err
		}
		return ioctl(kvmCreateVM | 1<<32) // the kernel ignores the high bits
	case "seccomp after Seal":
		if err := Seal(); err != nil {
			return err
		}
		return Seal()
	case "fork as ioctl":
		// A fork (no CLONE_THREAD; 0x10 is only the exit signal) whose
		// second argument is an allowed ioctl request: a filter that
		// compares the next syscall number with clone's flags let it
		// through. Had it run, the child starts on the stack 0xae80 and
		// faults at once.
		pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, 0x10, kvmRun, 0, 0, 0, 0)
		if pid == 0 && e == 0 {
			unix.Exit(0)
		}
		return e
	case "fork":
		// clone without CLONE_THREAD: only threads are allowed.
		pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
		if pid == 0 && e == 0 {
			unix.Exit(0) // the forked child, had the filter let it through
		}
		return e
	}
	return errors.New("unknown mode " + name)
}

// KVM ioctl requests the tests issue, from include/uapi/linux/kvm.h.
const (
	kvmCreateVM       = 0xae01 // _IO(KVMIO, 0x01)
	kvmCheckExtension = 0xae03 // _IO(KVMIO, 0x03)
	kvmRun            = 0xae80 // _IO(KVMIO, 0x80)
)

// ioctl issues request on stdin (/dev/null in the jail tests): the filter
// looks at the request only, and the kernel answers ENOTTY to one that
// passes.
func ioctl(req uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, req, 0)
	if e != 0 {
		return e
	}
	return nil
}

// allowedIoctls issues ioctls a VMM needs before and after Seal; each
// must come back with an error from the kernel, not kill the process.
func allowedIoctls() error {
	for _, step := range []struct {
		name string
		req  uintptr
		seal bool
	}{
		{"KVM_CHECK_EXTENSION", kvmCheckExtension, false},
		{"KVM_CREATE_VM", kvmCreateVM, false},
		{"KVM_RUN", kvmRun, true},
		{"TUNSETOFFLOAD", unix.TUNSETOFFLOAD, false},
		{"TUNSETVNETHDRSZ", unix.TUNSETVNETHDRSZ, false},
	} {
		if step.seal {
			if err := Seal(); err != nil {
				return err
			}
		}
		if err := ioctl(step.req); err != unix.ENOTTY {
			return fmt.Errorf("ioctl %s on /dev/null: %v, want ENOTTY", step.name, err)
		}
	}
	return nil
}

// oom enters the jail and touches more memory than memory.max allows.
func oom() error {
	if _, err := Enter(); err != nil {
		return err
	}
	n, _ := strconv.Atoi(os.Getenv("JAIL_TEST_TOUCH"))
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return err
	}
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
	return errors.New("touched all memory without being killed")
}

// block enters the jail and waits on the kernel fd (a pipe the parent never
// writes) until it is killed.
func block() error {
	files, err := Enter()
	if err != nil {
		return err
	}
	fmt.Fprintln(files.Console, "blocking")
	_, err = files.Kernel.Read(make([]byte, 1))
	return fmt.Errorf("read returned: %v", err)
}

// peek enters the jail, stats each path of JAIL_TEST_PEEK (colon-separated)
// and reports the results on the console, then blocks like block.
func peek() error {
	files, err := Enter()
	if err != nil {
		return err
	}
	for _, p := range strings.Split(os.Getenv("JAIL_TEST_PEEK"), ":") {
		_, err := os.Stat(p)
		fmt.Fprintf(files.Console, "stat %s: %v\n", p, err)
	}
	fmt.Fprintln(files.Console, "blocking")
	_, err = files.Kernel.Read(make([]byte, 1))
	return fmt.Errorf("read returned: %v", err)
}
