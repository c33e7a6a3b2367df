package main

import (
	"encoding/binary"
	"fmt"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestSealedEqualsRunPolicy: what a sealed VMM may do, Policy(_, true)
// and SealPolicy stacked, is exactly what Policy(_, false) stacked on
// Policy(_, true) allowed before SealPolicy replaced it: the same answer
// (the strictest of the two filters', as the kernel takes it) for every
// syscall number, on both architectures, for every ioctl request of
// either list (also with high bits set), and for the arguments the
// conditions look at.
func TestSealedEqualsRunPolicy(t *testing.T) {
	seal := mustAssemble(t, SealPolicy())
	for _, libc := range []bool{false, true} {
		enter := mustAssemble(t, Policy(libc, true))
		run := mustAssemble(t, Policy(libc, false))
		var ioctlArgs []uint64
		for _, r := range Requests(true) {
			ioctlArgs = append(ioctlArgs, r, r|1<<32, r^1, r+1)
		}
		ioctlArgs = append(ioctlArgs, 0, 0xae01, 0x400454ca, 1<<63)
		small := []uint64{0, 1, 2, 3, 4, 7, unix.CLONE_THREAD, unix.CLONE_THREAD | 1<<32, unix.PROT_EXEC | 1}
		checked := 0
		for _, arch := range []uint32{0xc000003e, 0x40000003} {
			for nr := uint32(0); nr < 1024; nr++ {
				for _, n := range []uint32{nr, nr | 0x40000000} {
					args := [][3]uint64{{0, 0, 0}}
					switch n {
					case unix.SYS_IOCTL:
						args = nil
						for _, a := range ioctlArgs {
							args = append(args, [3]uint64{3, a, 0})
						}
					case unix.SYS_SECCOMP, unix.SYS_CLONE, unix.SYS_MPROTECT:
						args = nil
						for _, a0 := range small {
							for _, a1 := range small {
								for _, a2 := range small {
									args = append(args, [3]uint64{a0, a1, a2})
								}
							}
						}
					}
					for _, a := range args {
						in := seccompData(arch, n, a)
						want := stacked(t, in, enter, run)
						if got := stacked(t, in, enter, seal); got != want {
							t.Fatalf("libc %v, arch %#x, nr %d, args %#x: sealed answer %#x, want %#x", libc, arch, n, a, got, want)
						}
						checked++
					}
				}
			}
		}
		// The interpreter tells answers apart: KVM_CREATE_VM is allowed
		// while building and killed once sealed, even with high bits set;
		// KVM_RUN is allowed in both, seccomp only while building.
		const x86, kill, allow = 0xc000003e, 0x80000000, 0x7fff0000
		for _, c := range []struct {
			nr         uint32
			args       [3]uint64
			open, shut uint32
		}{
			{unix.SYS_IOCTL, [3]uint64{3, 0xae01}, allow, kill},
			{unix.SYS_IOCTL, [3]uint64{3, 0xae01 | 1<<32}, kill, kill},
			{unix.SYS_IOCTL, [3]uint64{3, 0xae80}, allow, allow},
			{unix.SYS_SECCOMP, [3]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}, allow, kill},
			{unix.SYS_EXECVE, [3]uint64{}, kill, kill},
			{unix.SYS_READ, [3]uint64{}, allow, allow},
		} {
			in := seccompData(x86, c.nr, c.args)
			if got := stacked(t, in, enter); got != c.open {
				t.Errorf("libc %v: nr %d %#x before Seal: %#x, want %#x", libc, c.nr, c.args, got, c.open)
			}
			if got := stacked(t, in, enter, seal); got != c.shut {
				t.Errorf("libc %v: nr %d %#x after Seal: %#x, want %#x", libc, c.nr, c.args, got, c.shut)
			}
		}
		t.Logf("libc %v: %d syscalls checked; sealed filter %d instructions, was %d", libc, checked, len(seal), len(run))
	}
}

// mustAssemble assembles p.
func mustAssemble(t *testing.T, p seccomp.Policy) []bpf.RawInstruction {
	t.Helper()
	raw, err := assemble(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// seccompData is struct seccomp_data (nr, arch, instruction pointer,
// args) for nr with args as its first three arguments, in the byte order
// of the host (little endian).
func seccompData(arch, nr uint32, args [3]uint64) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], nr)
	binary.LittleEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
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
