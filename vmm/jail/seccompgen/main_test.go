package main

import (
	"bytes"
	"os"
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
		if _, err := program(cgo); err != nil {
			t.Fatal(err)
		}
	}
	for _, never := range []string{"execve", "fork", "vfork", "clone3", "mount", "chroot", "pivot_root", "ptrace", "socket", "unshare", "setns", "open_by_handle_at", "bpf", "kexec_load"} {
		for _, s := range Syscalls {
			if s == never {
				t.Errorf("%s must not be allowed", never)
			}
		}
	}
}
