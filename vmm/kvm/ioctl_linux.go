package kvm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ioctl issues one ioctl with an integer argument, retrying on EINTR.
func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

// System is a handle on /dev/kvm.
type System struct {
	fd int
}

// Open opens the KVM device at path (normally /dev/kvm) and checks its API
// version.
func Open(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s, err := FromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// FromFD makes a System from an already open KVM device fd (a jailed VMM
// inherits it) and checks the API version. The System owns fd from then on
// only if FromFD succeeds.
func FromFD(fd int) (*System, error) {
	v, err := ioctl(fd, reqGetAPIVersion, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	if v != apiVersion {
		return nil, fmt.Errorf("KVM API version %d, want %d", v, apiVersion)
	}
	return &System{fd: fd}, nil
}

// FD returns the raw file descriptor.
func (s *System) FD() int { return s.fd }

// Close closes the handle.
func (s *System) Close() error { return unix.Close(s.fd) }

// CheckExtension reports the value of KVM_CHECK_EXTENSION for cap.
func (s *System) CheckExtension(cap uintptr) (int, error) {
	r, err := ioctl(s.fd, reqCheckExtension, cap)
	if err != nil {
		return 0, fmt.Errorf("KVM_CHECK_EXTENSION %d: %w", cap, err)
	}
	return int(r), nil
}

// createVMFD issues KVM_CREATE_VM and returns the raw VM fd.
func (s *System) createVMFD() (int, error) {
	r, err := ioctl(s.fd, reqCreateVM, 0)
	if err != nil {
		return -1, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	return int(r), nil
}
