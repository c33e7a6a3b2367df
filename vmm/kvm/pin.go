package kvm

import "errors"

// Pin is an idle VM with the in-kernel irqchip and one vCPU that never
// runs, held open so that the host kernel keeps KVM's global state on.
//
// Why: the first VM on a host and the last one to go flip static keys in
// the kernel (preempt_notifier_key in the scheduler; KVM's
// apic_sw_disabled, which counts vCPUs whose local APIC is software
// disabled) and, on kernels before 6.10, turn virtualization on and off
// on every CPU. Each static key flip patches live kernel text with INT3
// (text_poke_bp). Under QEMU's TCG, which emulates the virtual rack's
// servers, a CPU can keep executing a stale translation that still holds
// the INT3 after the patch is done: the kernel finds no INT3 in memory
// and returns to retry it, forever, and the server freezes. With a Pin
// alive from boot to power-off, starting and ending guests (and probing
// KVM with a throwaway VM) flips nothing. On real iron a Pin costs one
// idle VM and spares every CPU those cross-calls when the last guest
// stops and the next starts.
type Pin struct {
	sys  *System
	vm   *VM
	vcpu *VCPU
}

// NewPin opens device and creates the pinned VM and vCPU.
func NewPin(device string) (*Pin, error) {
	sys, err := Open(device)
	if err != nil {
		return nil, err
	}
	p := &Pin{sys: sys}
	if p.vm, err = sys.CreateVM(); err == nil {
		if err = p.vm.CreateIRQChip(); err == nil {
			p.vcpu, err = p.vm.CreateVCPU(0)
		}
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the vCPU, the VM and the device, in that order.
func (p *Pin) Close() error {
	var errs []error
	if p.vcpu != nil {
		errs = append(errs, p.vcpu.Close())
	}
	if p.vm != nil {
		errs = append(errs, p.vm.Close())
	}
	return errors.Join(append(errs, p.sys.Close())...)
}
