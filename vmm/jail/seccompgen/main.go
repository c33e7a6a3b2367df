// Command seccompgen compiles the jailed VMM's seccomp policies (Policy,
// here) to classic BPF with go-seccomp-bpf and writes it as Go source,
// so that a VMM loads a ready program: neither the library's syscall
// tables (built by its package initialiser, about 160 KB of heap) nor the
// compiler are linked into the VMM binary. vmm/jail runs it through
// go:generate; its test fails when the committed program is stale.
//
// Usage (from vmm/jail): go run ./seccompgen -o seccomp_filter_amd64.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"runtime"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/kvm"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: seccompgen -o FILE")
		os.Exit(2)
	}
	src, err := generate()
	if err == nil {
		err = os.WriteFile(*out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccompgen:", err)
		os.Exit(1)
	}
}

// Syscalls is the seccomp allow-list of a jailed VMM (linux/amd64). Anything
// else kills the whole process.
//
// It was derived by running a Go program that does what a VMM does after
// Enter (net.FileListener + Accept on a passed control socket, deadlines,
// pread/pwrite/fsync/fdatasync on a disk fd, anonymous mmap/madvise/munmap,
// an eventfd read through the netpoller, locked threads, GC, timers) under
// `strace -f -qq`, and taking every syscall it made after setup, plus the
// few the VMM design needs that such a run does not show (see the comments).
// The jail tests run a similar workload under the real filter. After a
// change here, run go generate ./vmm/jail.
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
	// ioctl: only with the requests of Requests; see Policy.
}

// TapRequests are the ioctls a VMM issues on the tap fds it is given: the
// virtio-net header size and the offloads the guest's driver negotiates.
// The appliance attaches the tap (TUNSETIFF) and sets its owner, address
// and MAC before the VMM starts; none of those requests is here, so a
// VMM cannot change its tap or attach to another interface.
var TapRequests = []uint64{unix.TUNSETVNETHDRSZ, unix.TUNSETOFFLOAD}

// Requests returns the ioctl requests a jailed VMM may issue: those of
// RunRequests, plus, when building is true (from Enter until Seal, while
// the VMM builds its VM), vmm/kvm's BuildRequests, KVM_CREATE_VM among
// them. Go's runtime and standard library issue no ioctl the VMM relies on
// (they set O_NONBLOCK and FD_CLOEXEC through fcntl).
func Requests(building bool) []uint64 {
	out := RunRequests()
	if building {
		for _, r := range kvm.BuildRequests() {
			out = append(out, uint64(r))
		}
	}
	return out
}

// RunRequests are the ioctls a VMM issues while its guest runs: vmm/kvm's
// RunRequests on the VM and vCPU fds, and TapRequests.
func RunRequests() []uint64 {
	var out []uint64
	for _, r := range kvm.RunRequests() {
		out = append(out, uint64(r))
	}
	return append(out, TapRequests...)
}

// LibcThreadSyscalls are added to the allow-list only in binaries linked
// with cgo (which includes -race builds), whose threads glibc's
// pthread_create makes: a guard page (mprotect, never with PROT_EXEC),
// clone3, and the robust-futex and rseq registration of each new thread.
// The ironvisor binary is built without cgo and does not get them.
var LibcThreadSyscalls = []string{"clone3", "set_robust_list", "rseq"}

// Policy is the seccomp policy of a jailed VMM: Syscalls allowed; clone
// only for threads (CLONE_THREAD set: no fork); ioctl only with one of
// Requests(building); while building, seccomp only to add the sealed
// filter (SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC);
// plus LibcThreadSyscalls and a PROT_EXEC-free mprotect if libcThreads.
// Anything else kills the process.
//
// It is compiled as several policies run one after the other in one
// program (program): Denies, each of which kills one syscall with the
// arguments it must not have and lets everything else on, then
// AllowList, which allows the syscalls by number only. Each policy holds
// at most one syscall with conditions, and last: the library compares
// every further syscall number with whatever argument word its
// conditions loaded last, so in one list "clone with CLONE_THREAD" then
// "ioctl with request R" let clone(0x10, R) (a fork) through as an ioctl
// (TestPolicyIsItsSpec, TestForbiddenSyscallKills' "fork as ioctl").
//
// Enter loads Policy(_, true); Seal adds SealPolicy, which with it allows
// what Policy(_, false) does, on top of it once the VM is built. Seccomp
// runs every filter loaded and takes the strictest answer, so after Seal
// the VMM can no longer create a VM or a vCPU, map memory into the guest,
// or load another filter. The request is compared as a whole 64-bit
// value: an allow-list, which a request with high bits set (the kernel
// ignores them) cannot slip through.
func Policy(libcThreads, building bool) []seccomp.Policy {
	return append(Denies(libcThreads, building), AllowList(libcThreads, building))
}

// AllowList allows Syscalls, and clone, ioctl, seccomp while building,
// and with libcThreads LibcThreadSyscalls and mprotect, by number only:
// Denies check their arguments.
func AllowList(libcThreads, building bool) seccomp.Policy {
	names := append([]string{"ioctl", "clone"}, Syscalls...) // ioctl first: one per guest exit
	if building {
		names = append(names, "seccomp")
	}
	if libcThreads {
		names = append(append(names, LibcThreadSyscalls...), "mprotect")
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionKillProcess,
		Syscalls:      []seccomp.SyscallGroup{{Action: seccomp.ActionAllow, Names: names}},
	}
}

// Denies are the policies that kill the syscalls AllowList allows with
// arguments they must not have, one syscall each: clone without
// CLONE_THREAD; ioctl with a request (the whole 64-bit value) not in
// Requests(building); seccomp other than SECCOMP_SET_MODE_FILTER with
// SECCOMP_FILTER_FLAG_TSYNC (while building; AllowList refuses it after);
// mprotect with PROT_EXEC (libcThreads).
func Denies(libcThreads, building bool) []seccomp.Policy {
	deny := func(name string, sets ...seccomp.ArgumentConditions) seccomp.Policy {
		g := seccomp.SyscallGroup{Action: seccomp.ActionKillProcess}
		for _, c := range sets { // ORed
			g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{Name: name, Conditions: c})
		}
		return seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: []seccomp.SyscallGroup{g}}
	}
	var notRequest seccomp.ArgumentConditions // ANDed
	for _, r := range hotFirst(Requests(building)) {
		notRequest = append(notRequest, seccomp.Condition{Argument: 1, Operation: seccomp.NotEqual, Value: r})
	}
	out := []seccomp.Policy{
		deny("ioctl", notRequest),
		deny("clone", seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD}}),
	}
	if building {
		out = append(out, deny("seccomp",
			seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.NotEqual, Value: unix.SECCOMP_SET_MODE_FILTER}},
			seccomp.ArgumentConditions{{Argument: 1, Operation: seccomp.NotEqual, Value: unix.SECCOMP_FILTER_FLAG_TSYNC}}))
	}
	if libcThreads {
		out = append(out, deny("mprotect", seccomp.ArgumentConditions{{Argument: 2, Operation: seccomp.BitsSet, Value: unix.PROT_EXEC}}))
	}
	return out
}

// SealPolicy is the filter Seal stacks on Policy(_, true): it kills an
// ioctl whose request (as a whole 64-bit value) is not one of
// RunRequests, and seccomp; it lets everything else through to the
// filter below, whose allow-list still holds (seccomp runs every filter
// and takes the strictest answer). Together they allow exactly what
// Policy's documentation says of a sealed VMM (TestPolicyIsItsSpec), and
// the sealed filter is short (it holds one syscall with conditions, last): a few instructions for any syscall but ioctl, so its
// load (the kernel runs every syscall number through it to cache the
// constant answers) and every syscall of the running VMM cost less than
// a second copy of the whole allow-list.
func SealPolicy() seccomp.Policy {
	var notRun seccomp.ArgumentConditions
	for _, r := range hotFirst(RunRequests()) {
		notRun = append(notRun, seccomp.Condition{Argument: 1, Operation: seccomp.NotEqual, Value: r})
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{{
			Action:             seccomp.ActionKillProcess,
			Names:              []string{"seccomp"},
			NamesWithCondtions: []seccomp.NameWithConditions{{Name: "ioctl", Conditions: notRun}},
		}},
	}
}

// program assembles Policy(libcThreads, building), or SealPolicy when
// building is false, into one program.
func program(libcThreads, building bool) ([]bpf.RawInstruction, error) {
	if !building {
		return assemble(SealPolicy())
	}
	return chain(Policy(libcThreads, building))
}

// chain assembles ps into one program that runs them in order: every
// policy but the last must default to allow, and its final instruction,
// that default, is left out, so that whatever reached it goes on to the
// next policy's first instruction (each begins by loading the
// architecture and the syscall number again).
func chain(ps []seccomp.Policy) ([]bpf.RawInstruction, error) {
	var out []bpf.RawInstruction
	for i, p := range ps {
		raw, err := assemble(p)
		if err != nil {
			return nil, err
		}
		if i < len(ps)-1 {
			last := raw[len(raw)-1]
			if p.DefaultAction != seccomp.ActionAllow || last.Op != unix.BPF_RET|unix.BPF_K || last.K != uint32(seccomp.ActionAllow) {
				return nil, fmt.Errorf("policy %d of %d does not end in its default allow", i, len(ps))
			}
			raw = raw[:len(raw)-1]
		}
		out = append(out, raw...)
	}
	if len(out) > maxInstructions {
		return nil, fmt.Errorf("program of %d instructions, more than %d", len(out), maxInstructions)
	}
	return out, nil
}

// kvmRun is KVM_RUN, _IO(KVMIO, 0x80): the request a running VMM makes
// once per guest exit.
const kvmRun = 0xae80

// hotFirst returns reqs with KVM_RUN first: a request walks the
// conditions of the requests before it in a deny policy, at every ioctl.
func hotFirst(reqs []uint64) []uint64 {
	out := make([]uint64, 0, len(reqs))
	for _, r := range reqs {
		if r == kvmRun {
			out = append(out, r)
		}
	}
	for _, r := range reqs {
		if r != kvmRun {
			out = append(out, r)
		}
	}
	return out
}

// maxInstructions is the kernel's limit on a filter (BPF_MAXINSNS).
const maxInstructions = 4096

// assemble assembles p into raw instructions.
func assemble(p seccomp.Policy) ([]bpf.RawInstruction, error) {
	insns, err := p.Assemble()
	if err != nil {
		return nil, fmt.Errorf("policy %+v: %w", p, err)
	}
	return bpf.Assemble(insns)
}

// generate returns the Go source of both programs.
func generate() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("generates the linux/amd64 program; this is %s", runtime.GOARCH)
	}
	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./seccompgen\" from its Policy; DO NOT EDIT.\n\n")
	b.WriteString("//go:build linux && amd64\n\npackage jail\n\nimport \"golang.org/x/sys/unix\"\n\n")
	for _, v := range []struct {
		name, doc      string
		libc, building bool
	}{
		{"seccompProgram", "is the Policy Enter loads in a binary without cgo.", false, true},
		{"seccompProgramLibc", "is the Policy Enter loads in a binary with cgo (glibc's threads).", true, true},
		{"sealedProgram", "is the SealPolicy Seal adds, with or without cgo.", false, false},
	} {
		raw, err := program(v.libc, v.building)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "// %s %s\nvar %s = []unix.SockFilter{\n", v.name, v.doc, v.name)
		for _, r := range raw {
			fmt.Fprintf(&b, "\t{Code: %#04x, Jt: %d, Jf: %d, K: %#x},\n", r.Op, r.Jt, r.Jf, r.K)
		}
		b.WriteString("}\n\n")
	}
	return format.Source(b.Bytes())
}
