package jail

import (
	"fmt"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Syscalls is the seccomp allow-list of a jailed VMM (linux/amd64). Anything
// else kills the whole process.
//
// It was derived by running a Go program that does what a VMM does after
// Enter (net.FileListener + Accept on a passed control socket, deadlines,
// pread/pwrite/fsync/fdatasync on a disk fd, anonymous mmap/madvise/munmap,
// an eventfd read through the netpoller, locked threads, GC, timers) under
// `strace -f -qq`, and taking every syscall it made after setup, plus the
// few the VMM design needs that such a run does not show (see the comments).
// The jail tests run a similar workload under the real filter.
var Syscalls = []string{
	// Go runtime: memory, threads, scheduling, signals (async preemption
	// uses getpid+tgkill), time (vDSO fallbacks), and the periodic
	// GOMAXPROCS update (sched_getaffinity, pread64 of cgroup cpu.max).
	"mmap", "munmap", "madvise",
	"exit", "exit_group", "futex", "sched_yield", "nanosleep", // clone: see Policy
	"clock_gettime", "gettimeofday", "restart_syscall",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"getpid", "gettid", "tgkill", "sched_getaffinity",
	"getrandom", // crypto/rand and runtime seeding
	// netpoll and the control socket (a passed-in listening socket).
	"epoll_create1", "epoll_ctl", "epoll_pwait", "eventfd2", "pipe2",
	"accept4", "getsockname", "getpeername", "getsockopt", "shutdown",
	// files: disk, tap, console log and kvm fds; reading inside the root.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"lseek", "fsync", "fdatasync", "fstat", "newfstatat", "openat", "close", "fcntl",
	"dup", // vmm/vm duplicates the inherited KVM fd
	// KVM: every VM and vCPU operation (KVM_RUN included) is an ioctl, and
	// so are the tap's TUNSETOFFLOAD/TUNSETVNETHDRSZ.
	"ioctl",
}

// LibcThreadSyscalls are added to the allow-list only in binaries linked
// with cgo (which includes -race builds), whose threads glibc's
// pthread_create makes: a guard page (mprotect, never with PROT_EXEC),
// clone3, and the robust-futex and rseq registration of each new thread.
// The ironvisor binary is built without cgo and does not get them.
var LibcThreadSyscalls = []string{"clone3", "set_robust_list", "rseq"}

// Policy returns the seccomp policy Enter loads: Syscalls allowed, clone
// only for threads (CLONE_THREAD set: no fork), plus LibcThreadSyscalls and
// a PROT_EXEC-free mprotect if libcThreads; anything else kills the
// process.
func Policy(libcThreads bool) seccomp.Policy {
	allow := seccomp.SyscallGroup{
		Action: seccomp.ActionAllow,
		Names:  append([]string(nil), Syscalls...),
		NamesWithCondtions: []seccomp.NameWithConditions{{
			Name: "clone",
			Conditions: seccomp.ArgumentConditions{
				{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_THREAD},
			},
		}},
	}
	if libcThreads {
		allow.Names = append(allow.Names, LibcThreadSyscalls...)
		allow.NamesWithCondtions = append(allow.NamesWithCondtions, seccomp.NameWithConditions{
			Name: "mprotect",
			Conditions: seccomp.ArgumentConditions{
				{Argument: 2, Operation: seccomp.BitsNotSet, Value: unix.PROT_EXEC},
			},
		})
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionKillProcess,
		Syscalls:      []seccomp.SyscallGroup{allow},
	}
}

// hasCgo reports whether the process has threads the Go runtime does not
// manage (cgo): then AllThreadsSyscall is refused with ENOTSUP.
func hasCgo() bool {
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return e == unix.ENOTSUP
}

// LoadSeccomp sets no_new_privs and installs Policy on every thread of the
// process at once (SECCOMP_FILTER_FLAG_TSYNC: the kernel copies the filter
// and no_new_privs to all threads, or fails if it cannot).
func LoadSeccomp() error {
	defer lockThread()() // prctl(NO_NEW_PRIVS) and seccomp on the same thread
	err := seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy:     Policy(hasCgo()),
	})
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}
