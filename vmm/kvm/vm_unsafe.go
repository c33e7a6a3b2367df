package kvm

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetUserMemoryRegion maps mem as guest physical memory at gpa in slot. mem
// must stay mapped (and not be moved) for the VM's lifetime: use memory
// from memory.Allocate.
func (vm *VM) SetUserMemoryRegion(slot uint32, gpa uint64, mem []byte) error {
	if len(mem) == 0 {
		return fmt.Errorf("set memory slot %d: empty region", slot)
	}
	r := userMemoryRegion{
		slot:          slot,
		guestPhysAddr: gpa,
		memorySize:    uint64(len(mem)),
		userspaceAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
	}
	if _, err := ioctlPtr(vm.fd, reqSetUserMemoryRegion, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("set memory slot %d at %#x (%d bytes): %w", slot, gpa, len(mem), err)
	}
	return nil
}

// SetIdentityMapAddr places the page KVM needs for its real-mode identity
// page table on Intel.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	if _, err := ioctlPtr(vm.fd, reqSetIdentityMapAddr, unsafe.Pointer(&addr)); err != nil {
		return fmt.Errorf("KVM_SET_IDENTITY_MAP_ADDR %#x: %w", addr, err)
	}
	return nil
}

// pitSpeakerDummy is KVM_PIT_SPEAKER_DUMMY: KVM emulates port 0x61 too.
const pitSpeakerDummy = 1

// CreatePIT2 creates the in-kernel i8254 timer (with a dummy speaker port).
func (vm *VM) CreatePIT2() error {
	c := pitConfig{flags: pitSpeakerDummy}
	if _, err := ioctlPtr(vm.fd, reqCreatePIT2, unsafe.Pointer(&c)); err != nil {
		return fmt.Errorf("KVM_CREATE_PIT2: %w", err)
	}
	return nil
}

// IRQLine sets the level of interrupt line gsi on the in-kernel irqchip.
// For an edge, raise then lower it.
func (vm *VM) IRQLine(gsi uint32, level bool) error {
	l := irqLevel{irq: gsi}
	if level {
		l.level = 1
	}
	if _, err := ioctlPtr(vm.fd, reqIRQLine, unsafe.Pointer(&l)); err != nil {
		return fmt.Errorf("KVM_IRQ_LINE gsi %d: %w", gsi, err)
	}
	return nil
}

// irqfdDeassign is KVM_IRQFD_FLAG_DEASSIGN.
const irqfdDeassign = 1

// RegisterIRQFD makes every write to eventfd fd inject an edge on gsi,
// without a userspace exit.
func (vm *VM) RegisterIRQFD(fd int, gsi uint32) error {
	r := irqFD{fd: uint32(fd), gsi: gsi}
	if _, err := ioctlPtr(vm.fd, reqIRQFD, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("KVM_IRQFD fd %d gsi %d: %w", fd, gsi, err)
	}
	return nil
}

// UnregisterIRQFD undoes RegisterIRQFD.
func (vm *VM) UnregisterIRQFD(fd int, gsi uint32) error {
	r := irqFD{fd: uint32(fd), gsi: gsi, flags: irqfdDeassign}
	if _, err := ioctlPtr(vm.fd, reqIRQFD, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("KVM_IRQFD deassign fd %d gsi %d: %w", fd, gsi, err)
	}
	return nil
}

// KVM_IOEVENTFD flags.
const (
	ioeventfdDatamatch = 1 << 0
	ioeventfdPIO       = 1 << 1
	ioeventfdDeassign  = 1 << 2
)

// RegisterIOEventFD makes a guest MMIO write of length bytes to addr whose
// value equals datamatch signal eventfd fd instead of exiting to userspace.
func (vm *VM) RegisterIOEventFD(addr uint64, length uint32, datamatch uint64, fd int) error {
	return vm.ioEventFD(addr, length, datamatch, fd, ioeventfdDatamatch)
}

// UnregisterIOEventFD undoes RegisterIOEventFD.
func (vm *VM) UnregisterIOEventFD(addr uint64, length uint32, datamatch uint64, fd int) error {
	return vm.ioEventFD(addr, length, datamatch, fd, ioeventfdDatamatch|ioeventfdDeassign)
}

// ioEventFD issues KVM_IOEVENTFD.
func (vm *VM) ioEventFD(addr uint64, length uint32, datamatch uint64, fd int, flags uint32) error {
	e := ioEventFD{datamatch: datamatch, addr: addr, len: length, fd: int32(fd), flags: flags}
	if _, err := ioctlPtr(vm.fd, reqIOEventFD, unsafe.Pointer(&e)); err != nil {
		return fmt.Errorf("KVM_IOEVENTFD addr %#x len %d match %d: %w", addr, length, datamatch, err)
	}
	return nil
}

// maxCPUIDEntries bounds the KVM_GET_SUPPORTED_CPUID buffer.
const maxCPUIDEntries = 256

// GetSupportedCPUID returns the CPUID leaves KVM can offer a guest.
func (s *System) GetSupportedCPUID() ([]CPUIDEntry, error) {
	for n := 64; n <= maxCPUIDEntries; n *= 2 {
		buf := make([]byte, sizeofCPUID2+n*sizeofCPUIDEntry2)
		hdr := (*cpuid2)(unsafe.Pointer(&buf[0]))
		hdr.nent = uint32(n)
		_, err := ioctlPtr(s.fd, reqGetSupportedCPUID, unsafe.Pointer(&buf[0]))
		if errors.Is(err, unix.E2BIG) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
		}
		got := int(hdr.nent)
		if got > n {
			return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID returned %d entries for %d slots", got, n)
		}
		out := make([]CPUIDEntry, got)
		copy(out, unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[sizeofCPUID2])), got))
		return out, nil
	}
	return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: more than %d entries", maxCPUIDEntries)
}
