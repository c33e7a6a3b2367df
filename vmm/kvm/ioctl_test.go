package kvm

import "testing"

// TestIoctlNumbers pins computed request numbers to the values in the
// kernel's include/uapi/linux/kvm.h.
func TestIoctlNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", reqGetAPIVersion, 0xAE00},
		{"KVM_CREATE_VM", reqCreateVM, 0xAE01},
		{"KVM_CHECK_EXTENSION", reqCheckExtension, 0xAE03},
		{"KVM_GET_VCPU_MMAP_SIZE", reqGetVCPUMmapSize, 0xAE04},
		{"KVM_GET_SUPPORTED_CPUID", reqGetSupportedCPUID, 0xC008AE05},
		{"KVM_CREATE_VCPU", reqCreateVCPU, 0xAE41},
		{"KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, 0x4020AE46},
		{"KVM_SET_TSS_ADDR", reqSetTSSAddr, 0xAE47},
		{"KVM_SET_IDENTITY_MAP_ADDR", reqSetIdentityMapAddr, 0x4008AE48},
		{"KVM_CREATE_IRQCHIP", reqCreateIRQChip, 0xAE60},
		{"KVM_IRQ_LINE", reqIRQLine, 0x4008AE61},
		{"KVM_SET_GSI_ROUTING", reqSetGSIRouting, 0x4008AE6A},
		{"KVM_IRQFD", reqIRQFD, 0x4020AE76},
		{"KVM_CREATE_PIT2", reqCreatePIT2, 0x4040AE77},
		{"KVM_IOEVENTFD", reqIOEventFD, 0x4040AE79},
		{"KVM_RUN", reqRun, 0xAE80},
		{"KVM_GET_REGS", reqGetRegs, 0x8090AE81},
		{"KVM_SET_REGS", reqSetRegs, 0x4090AE82},
		{"KVM_GET_SREGS", reqGetSregs, 0x8138AE83},
		{"KVM_SET_SREGS", reqSetSregs, 0x4138AE84},
		{"KVM_GET_MSRS", reqGetMSRs, 0xC008AE88},
		{"KVM_SET_MSRS", reqSetMSRs, 0x4008AE89},
		{"KVM_GET_FPU", reqGetFPU, 0x81A0AE8C},
		{"KVM_SET_FPU", reqSetFPU, 0x41A0AE8D},
		{"KVM_GET_LAPIC", reqGetLAPIC, 0x8400AE8E},
		{"KVM_SET_LAPIC", reqSetLAPIC, 0x4400AE8F},
		{"KVM_SET_CPUID2", reqSetCPUID2, 0x4008AE90},
		{"KVM_GET_MP_STATE", reqGetMPState, 0x8004AE98},
		{"KVM_SET_MP_STATE", reqSetMPState, 0x4004AE99},
		{"KVM_GET_XCRS", reqGetXCRS, 0x8188AEA6},
		{"KVM_SET_XCRS", reqSetXCRS, 0x4188AEA7},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

func TestDetectKind(t *testing.T) {
	dir := t.TempDir()
	if k := DetectKind(dir); k != KindNone {
		t.Fatalf("empty sysfs: kind %s, want none", k)
	}
	mk := func(m string) {
		if err := mkdirAll(dir + "/module/" + m); err != nil {
			t.Fatal(err)
		}
	}
	mk("kvm_amd")
	if k := DetectKind(dir); k != KindSVM {
		t.Fatalf("kvm_amd: kind %s, want SVM", k)
	}
	mk("kvm_pvm")
	if k := DetectKind(dir); k != KindPVM {
		t.Fatalf("kvm_pvm+kvm_amd: kind %s, want PVM", k)
	}
}
