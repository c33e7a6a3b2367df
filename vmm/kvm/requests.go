package kvm

// BuildRequests returns the ioctl requests this package issues while a VM
// is built: on the /dev/kvm fd (KVM_CREATE_VM among them), and on the new
// VM fd to create its vCPUs, in-kernel devices and memory slots.
// vmm/jail/seccompgen allows them only until the VM is built; after that
// a jailed VMM may issue only RunRequests.
func BuildRequests() []uintptr {
	return []uintptr{
		reqGetAPIVersion, reqCreateVM, reqCheckExtension,
		reqGetVCPUMmapSize, reqGetSupportedCPUID,
		reqCreateVCPU, reqSetUserMemoryRegion, reqSetTSSAddr,
		reqSetIdentityMapAddr, reqCreateIRQChip, reqCreatePIT2,
	}
}

// RunRequests returns the ioctl requests this package issues on a built
// VM's fds while its guest runs: interrupts, eventfds, KVM_RUN and the
// vCPU state (some of which the build sets too).
func RunRequests() []uintptr {
	return []uintptr{
		reqIRQLine, reqIRQFD, reqIOEventFD, reqRun,
		reqGetRegs, reqSetRegs, reqGetSregs, reqSetSregs,
		reqGetMSRs, reqSetMSRs, reqGetLAPIC, reqSetLAPIC,
		reqSetCPUID2, reqGetMPState, reqSetMPState,
		reqGetFPU, reqSetFPU, reqGetXCRS, reqSetXCRS,
	}
}
