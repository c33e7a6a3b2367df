package kvm

import "fmt"

// ExitReason is why KVM_RUN returned to userspace (KVM_EXIT_* in
// include/uapi/linux/kvm.h).
type ExitReason uint32

// The exit reasons an x86 VMM meets. Values are the kernel's.
const (
	ExitUnknown        ExitReason = 0
	ExitException      ExitReason = 1
	ExitIO             ExitReason = 2
	ExitHypercall      ExitReason = 3
	ExitDebug          ExitReason = 4
	ExitHLT            ExitReason = 5
	ExitMMIO           ExitReason = 6
	ExitIRQWindowOpen  ExitReason = 7
	ExitShutdown       ExitReason = 8
	ExitFailEntry      ExitReason = 9
	ExitIntr           ExitReason = 10
	ExitSetTPR         ExitReason = 11
	ExitTPRAccess      ExitReason = 12
	ExitNMI            ExitReason = 16
	ExitInternalError  ExitReason = 17
	ExitSystemEvent    ExitReason = 24
	ExitIOAPICEOI      ExitReason = 26
	ExitHyperV         ExitReason = 27
	ExitX86RDMSR       ExitReason = 29
	ExitX86WRMSR       ExitReason = 30
	ExitDirtyRingFull  ExitReason = 31
	ExitAPResetHold    ExitReason = 32
	ExitX86BusLock     ExitReason = 33
	ExitNotify         ExitReason = 37
	ExitMemoryFault    ExitReason = 39
	exitReasonNameSize            = 40
)

var exitNames = [exitReasonNameSize]string{
	ExitUnknown:       "unknown",
	ExitException:     "exception",
	ExitIO:            "io",
	ExitHypercall:     "hypercall",
	ExitDebug:         "debug",
	ExitHLT:           "hlt",
	ExitMMIO:          "mmio",
	ExitIRQWindowOpen: "irq-window-open",
	ExitShutdown:      "shutdown",
	ExitFailEntry:     "fail-entry",
	ExitIntr:          "intr",
	ExitSetTPR:        "set-tpr",
	ExitTPRAccess:     "tpr-access",
	ExitNMI:           "nmi",
	ExitInternalError: "internal-error",
	ExitSystemEvent:   "system-event",
	ExitIOAPICEOI:     "ioapic-eoi",
	ExitHyperV:        "hyperv",
	ExitX86RDMSR:      "x86-rdmsr",
	ExitX86WRMSR:      "x86-wrmsr",
	ExitDirtyRingFull: "dirty-ring-full",
	ExitAPResetHold:   "ap-reset-hold",
	ExitX86BusLock:    "x86-bus-lock",
	ExitNotify:        "notify",
	ExitMemoryFault:   "memory-fault",
}

// String returns the exit reason's name, or its number if unknown here.
func (r ExitReason) String() string {
	if int(r) < len(exitNames) && exitNames[r] != "" {
		return exitNames[r]
	}
	return fmt.Sprintf("exit(%d)", uint32(r))
}

// SystemEventType is the type of a KVM_EXIT_SYSTEM_EVENT.
type SystemEventType uint32

// System event types (KVM_SYSTEM_EVENT_*).
const (
	SystemEventShutdown SystemEventType = 1
	SystemEventReset    SystemEventType = 2
	SystemEventCrash    SystemEventType = 3
)

// String returns the event type's name.
func (t SystemEventType) String() string {
	switch t {
	case SystemEventShutdown:
		return "shutdown"
	case SystemEventReset:
		return "reset"
	case SystemEventCrash:
		return "crash"
	}
	return fmt.Sprintf("system-event(%d)", uint32(t))
}

// MPState is a vCPU's multiprocessing state (KVM_MP_STATE_*).
type MPState uint32

// Multiprocessing states.
const (
	MPStateRunnable      MPState = 0
	MPStateUninitialized MPState = 1
	MPStateInitReceived  MPState = 2
	MPStateHalted        MPState = 3
	MPStateSIPIReceived  MPState = 4
)
