package main

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// TestGeneratedUpToDate fails when vmm/jail's committed seccomp program is
// not what the policy compiles to now (run go generate ./vmm/jail).
func TestGeneratedUpToDate(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../seccomp_filter_amd64.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("vmm/jail/seccomp_filter_amd64.go is stale: run go generate ./vmm/jail")
	}
}

func TestPolicyAssembles(t *testing.T) {
	for _, cgo := range []bool{false, true} {
		for _, building := range []bool{false, true} {
			if _, err := program(cgo, building); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, never := range []string{"execve", "fork", "vfork", "clone3", "mount", "chroot", "pivot_root", "ptrace", "socket", "unshare", "setns", "open_by_handle_at", "bpf", "kexec_load", "ioctl", "seccomp"} {
		for _, s := range Syscalls {
			if s == never {
				t.Errorf("%s must not be allowed", never)
			}
		}
	}
}

// TestIoctlRequests pins which ioctl requests a jailed VMM may issue,
// before Seal (building) and after: KVM_CREATE_VM and KVM_CREATE_VCPU only
// while it builds its VM, and never a request that changes a network
// interface or attaches a tap.
func TestIoctlRequests(t *testing.T) {
	const (
		kvmCreateVM   = 0xae01 // _IO(KVMIO, 0x01)
		kvmCreateVCPU = 0xae41 // _IO(KVMIO, 0x41)
		kvmRun        = 0xae80 // _IO(KVMIO, 0x80)
		tunSetOffload = 0x400454d0
		tunSetIff     = 0x400454ca
		tunSetOwner   = 0x400454cc
		tunSetPersist = 0x400454cb
		siocSIfHwAddr = 0x8924
		siocSIfFlags  = 0x8914
		fionbio       = 0x5421
		tiocsti       = 0x5412
	)
	for _, building := range []bool{true, false} {
		got := Requests(building)
		for _, r := range []uint64{kvmRun, tunSetOffload} {
			if !slices.Contains(got, r) {
				t.Errorf("building %v: request %#x not allowed, want allowed", building, r)
			}
		}
		for _, r := range []uint64{tunSetIff, tunSetOwner, tunSetPersist, siocSIfHwAddr, siocSIfFlags, fionbio, tiocsti} {
			if slices.Contains(got, r) {
				t.Errorf("building %v: request %#x allowed, want refused", building, r)
			}
		}
		for _, r := range []uint64{kvmCreateVM, kvmCreateVCPU} {
			if slices.Contains(got, r) != building {
				t.Errorf("building %v: request %#x allowed = %v", building, r, !building)
			}
		}
	}
}
