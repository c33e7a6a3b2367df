package main

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Answers of a filter (SECCOMP_RET_*) and the architecture it allows.
const (
	retKill  = 0x80000000
	retAllow = 0x7fff0000
	retX32   = 0x00050000 | 38 // ERRNO(ENOSYS): the library's answer to x32 calls
	auditX86 = 0xc000003e
	audit386 = 0x40000003
)

// spec is what a jailed VMM may do, written from Policy's documentation
// and not from its BPF: the answer for syscall nr with args on the
// architecture a, before Seal (building) or after.
func spec(a, nr uint32, args [3]uint64, libc, building bool) uint32 {
	if a != auditX86 {
		return retKill
	}
	if nr >= 0x40000000 {
		return retX32
	}
	name := x86Names[int(nr)]
	switch {
	case slices.Contains(Syscalls, name):
		return retAllow
	case libc && slices.Contains(LibcThreadSyscalls, name):
		return retAllow
	case name == "clone" && args[0]&unix.CLONE_THREAD != 0:
		return retAllow
	case name == "ioctl" && slices.Contains(Requests(building), args[1]):
		return retAllow
	case name == "seccomp" && building && args[0] == unix.SECCOMP_SET_MODE_FILTER && args[1] == unix.SECCOMP_FILTER_FLAG_TSYNC:
		return retAllow
	case name == "mprotect" && libc && args[2]&unix.PROT_EXEC == 0:
		return retAllow
	}
	return retKill
}

// x86Names maps x86_64 syscall numbers to names.
var x86Names = func() map[int]string {
	info, err := arch.GetInfo("x86_64")
	if err != nil {
		panic(err)
	}
	return info.SyscallNumbers
}()

// TestPolicyIsItsSpec runs the generated programs, as the kernel would,
// on every syscall number of both architectures, and on the conditioned
// syscalls with arguments drawn from every value a condition compares
// with (syscall numbers, ioctl requests, flags), in every argument and
// both halves: the answer must be spec's, before Seal (Enter's program)
// and after (Enter's and the sealed one stacked). A single list of
// conditions let clone(0x10, an ioctl request) through as an ioctl: a
// fork (the first case below).
func TestPolicyIsItsSpec(t *testing.T) {
	seal, err := program(false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, libc := range []bool{false, true} {
		enter, err := program(libc, true)
		if err != nil {
			t.Fatal(err)
		}
		must := func(in []byte, a, nr uint32, args [3]uint64) {
			if got, want := stacked(t, in, enter), spec(a, nr, args, libc, true); got != want {
				t.Fatalf("libc %v, arch %#x, nr %d (%s), args %#x: before Seal %#x, want %#x", libc, a, nr, x86Names[int(nr)], args, got, want)
			}
			if got, want := stacked(t, in, enter, seal), spec(a, nr, args, libc, false); got != want {
				t.Fatalf("libc %v, arch %#x, nr %d (%s), args %#x: after Seal %#x, want %#x", libc, a, nr, x86Names[int(nr)], args, got, want)
			}
		}
		fork := [3]uint64{0x10, 0xae80, 0}
		if spec(auditX86, unix.SYS_CLONE, fork, libc, true) != retKill {
			t.Fatal("spec allows a fork")
		}
		must(seccompData(auditX86, unix.SYS_CLONE, fork), auditX86, unix.SYS_CLONE, fork)
		n := 0
		for _, a := range []uint32{auditX86, audit386} {
			for nr := uint32(0); nr < 1024; nr++ {
				for _, nn := range []uint32{nr, nr | 0x40000000} {
					for _, args := range argsFor(nn) {
						must(seccompData(a, nn, args), a, nn, args)
						n++
					}
				}
			}
		}
		t.Logf("libc %v: %d inputs; Enter's program %d instructions, the sealed one %d", libc, n, len(enter), len(seal))
	}
}

// argsFor returns the arguments TestPolicyIsItsSpec tries for syscall nr:
// none but zeros for a syscall without conditions; for clone, ioctl,
// seccomp and mprotect, every value a condition compares with, as the low
// or the high half, in each of the first three arguments.
func argsFor(nr uint32) [][3]uint64 {
	switch nr {
	case unix.SYS_CLONE, unix.SYS_IOCTL, unix.SYS_SECCOMP, unix.SYS_MPROTECT:
	default:
		return [][3]uint64{{}}
	}
	words := []uint64{0, 1, 4, 7, 0x10, unix.CLONE_THREAD, unix.CLONE_THREAD | 0x11,
		unix.SYS_CLONE, unix.SYS_IOCTL, unix.SYS_SECCOMP, unix.SYS_MPROTECT}
	for _, r := range Requests(true) {
		words = append(words, r)
	}
	var vals []uint64
	for _, w := range words {
		vals = append(vals, w, w<<32, w|1<<32)
	}
	var out [][3]uint64
	for _, v := range vals {
		for _, w := range words {
			out = append(out, [3]uint64{v, w, 0}, [3]uint64{w, v, 0}, [3]uint64{w, w, v}, [3]uint64{v, v, v})
		}
	}
	return out
}

// TestChainedProgramsKeepTheirDefault: chain refuses to run on past a
// policy whose default is not allow.
func TestChainedProgramsKeepTheirDefault(t *testing.T) {
	ps := Policy(false, true)
	if _, err := chain(append([]seccomp.Policy{ps[len(ps)-1]}, ps...)); err == nil {
		t.Error("chain ran on past a policy that kills by default")
	}
}

// seccompData is struct seccomp_data (nr, arch, instruction pointer,
// args) for nr with args as its first three arguments, in the byte order
// of the host (little endian).
func seccompData(a, nr uint32, args [3]uint64) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], nr)
	binary.LittleEndian.PutUint32(b[4:], a)
	for i, v := range args {
		binary.LittleEndian.PutUint64(b[16+8*i:], v)
	}
	return b
}

// stacked returns the answer of the filters run on in as the kernel
// combines them: the one whose action, as a signed 32-bit value, is the
// lowest (kill process first, allow last).
func stacked(t *testing.T, in []byte, progs ...[]bpf.RawInstruction) uint32 {
	t.Helper()
	var best uint32
	for i, p := range progs {
		r, err := runBPF(p, in)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 || int32(r&0xffff0000) < int32(best&0xffff0000) {
			best = r
		}
	}
	return best
}

// runBPF interprets the classic BPF instructions seccomp filters use
// (32-bit absolute loads, conditional jumps against a constant, jumps,
// constant returns; an and with a constant) on the seccomp_data in, as
// the kernel does, and returns the value returned. Any other instruction
// is an error, so the test cannot pass on a program it does not
// understand.
func runBPF(prog []bpf.RawInstruction, in []byte) (uint32, error) {
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Op {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if int(ins.K)+4 > len(in) {
				return 0, fmt.Errorf("pc %d: load at %d past seccomp_data", pc, ins.K)
			}
			a = binary.LittleEndian.Uint32(in[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= ins.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var c bool
			switch ins.Op &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				c = a == ins.K
			case unix.BPF_JGT:
				c = a > ins.K
			case unix.BPF_JGE:
				c = a >= ins.K
			case unix.BPF_JSET:
				c = a&ins.K != 0
			}
			if c {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, nil
		default:
			return 0, fmt.Errorf("pc %d: instruction %#04x not interpreted", pc, ins.Op)
		}
	}
	return 0, fmt.Errorf("ran past the end of the program")
}
