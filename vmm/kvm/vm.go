package kvm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// VM is a handle on a KVM virtual machine fd.
type VM struct {
	fd       int
	mmapSize int // size of each vCPU's kvm_run mapping
}

// CreateVM creates a VM and reads the vCPU run-area size it will need.
func (s *System) CreateVM() (*VM, error) {
	size, err := ioctl(s.fd, reqGetVCPUMmapSize, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	if size < sizeofRunHeader {
		return nil, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE = %d, smaller than struct kvm_run", size)
	}
	fd, err := s.createVMFD()
	if err != nil {
		return nil, err
	}
	return &VM{fd: fd, mmapSize: int(size)}, nil
}

// FD returns the raw VM file descriptor.
func (vm *VM) FD() int { return vm.fd }

// Close closes the VM fd. The kernel frees the VM once its vCPU fds are
// closed too.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// CreateIRQChip creates the in-kernel PIC, IOAPIC and local APICs. It must
// come before CreateVCPU.
func (vm *VM) CreateIRQChip() error {
	if _, err := ioctl(vm.fd, reqCreateIRQChip, 0); err != nil {
		return fmt.Errorf("KVM_CREATE_IRQCHIP: %w", err)
	}
	return nil
}

// SetTSSAddr places the three pages KVM needs for real-mode emulation on
// Intel; addr must be in a hole of the guest physical space.
func (vm *VM) SetTSSAddr(addr uint64) error {
	if _, err := ioctl(vm.fd, reqSetTSSAddr, uintptr(addr)); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR %#x: %w", addr, err)
	}
	return nil
}

// CreateVCPU creates vCPU id and maps its kvm_run area.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	r, err := ioctl(vm.fd, reqCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("create vcpu %d: %w", id, err)
	}
	fd := int(r)
	run, err := unix.Mmap(fd, 0, vm.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("map kvm_run of vcpu %d: %w", id, err)
	}
	return &VCPU{id: id, fd: fd, run: run}, nil
}
