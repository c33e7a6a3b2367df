package jail

import (
	"fmt"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

//go:generate go run ./seccompgen -o seccomp_filter_amd64.go

// hasCgo reports whether the process has threads the Go runtime does not
// manage (cgo): then AllThreadsSyscall is refused with ENOTSUP.
func hasCgo() bool {
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return e == unix.ENOTSUP
}

// entered is set once Enter has loaded the filter; Seal does nothing
// without it.
var entered atomic.Bool

// LoadSeccomp sets no_new_privs and installs the allow-list on every
// thread of the process at once (SECCOMP_FILTER_FLAG_TSYNC: the kernel
// copies the filter and no_new_privs to all threads, or fails if it
// cannot). The program is the policy that seccompgen compiled from its
// Syscalls (seccompProgram, or seccompProgramLibc in a cgo binary).
func LoadSeccomp() error {
	prog := seccompProgram
	if hasCgo() {
		prog = seccompProgramLibc
	}
	if len(prog) == 0 {
		return fmt.Errorf("load seccomp filter: no program for this architecture")
	}
	defer lockThread()() // prctl(NO_NEW_PRIVS) and seccomp on the same thread
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	if err := loadFilter(prog); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}

// Seal narrows a jailed VMM's seccomp filter once its VM is built: it adds
// the sealed filter (seccompgen's SealPolicy) on every thread, after
// which ioctl is allowed only with the requests a running VM needs (no KVM_CREATE_VM, no KVM_CREATE_VCPU, no new memory slot) and
// no further filter can be loaded. The VMM calls it after it created its
// last vCPU and before the guest runs. In a process that did not Enter the
// jail it does nothing.
func Seal() error {
	if !entered.Load() {
		return nil
	}
	prog := sealedProgram // the same with or without cgo
	if len(prog) == 0 {
		return fmt.Errorf("seal seccomp filter: no program for this architecture")
	}
	if err := loadFilter(prog); err != nil {
		return fmt.Errorf("seal seccomp filter: %w", err)
	}
	return nil
}
