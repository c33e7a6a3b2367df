package boot

// MSR is one model-specific register value to set on every vCPU before it
// runs (KVM_SET_MSRS).
type MSR struct {
	Index uint32
	Value uint64
}

// MSR indices (Intel SDM vol. 4, "Model-Specific Registers").
const (
	MSRIA32TSC           = 0x10
	MSRIA32SysenterCS    = 0x174
	MSRIA32SysenterESP   = 0x175
	MSRIA32SysenterEIP   = 0x176
	MSRIA32MiscEnable    = 0x1a0
	MSRMTRRDefType       = 0x2ff
	MSRSTAR              = 0xc0000081
	MSRLSTAR             = 0xc0000082
	MSRCSTAR             = 0xc0000083
	MSRSyscallMask       = 0xc0000084 // SFMASK
	MSRKernelGSBase      = 0xc0000102
	miscEnableFastStr    = 1 << 0  // IA32_MISC_ENABLE.FAST_STRINGS
	mtrrDefTypeEnable    = 1 << 11 // IA32_MTRR_DEF_TYPE.E
	mtrrTypeWriteBack    = 6
	mtrrDefTypeBootWBAll = mtrrDefTypeEnable | mtrrTypeWriteBack
)

// BootMSRs returns the MSRs every vCPU starts with:
//
//   - SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SFMASK and KERNEL_GS_BASE
//     zeroed: no stale system-call entry points; the kernel sets its own;
//   - TSC = 0, so all vCPUs start their TSCs together;
//   - IA32_MISC_ENABLE with fast strings, as firmware leaves it;
//   - IA32_MTRR_DEF_TYPE with MTRRs enabled and write-back as the default
//     type: there is no firmware to program MTRRs, and with them disabled
//     Linux also turns PAT off and maps RAM uncached where the host honours
//     guest memory types.
func BootMSRs() []MSR {
	return []MSR{
		{MSRIA32SysenterCS, 0},
		{MSRIA32SysenterESP, 0},
		{MSRIA32SysenterEIP, 0},
		{MSRSTAR, 0},
		{MSRLSTAR, 0},
		{MSRCSTAR, 0},
		{MSRSyscallMask, 0},
		{MSRKernelGSBase, 0},
		{MSRIA32TSC, 0},
		{MSRIA32MiscEnable, miscEnableFastStr},
		{MSRMTRRDefType, mtrrDefTypeBootWBAll},
	}
}
