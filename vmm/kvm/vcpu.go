package kvm

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Offsets into struct kvm_run (include/uapi/linux/kvm.h). The exit union
// starts at 32; the size test checks these against the kernel layout.
const (
	runImmediateExit = 1
	runExitReason    = 8
	runExit          = 32 // the per-exit union

	// KVM_EXIT_IO: u8 direction, u8 size, u16 port, u32 count, u64 data_offset.
	runIODirection  = runExit + 0
	runIOSize       = runExit + 1
	runIOPort       = runExit + 2
	runIOCount      = runExit + 4
	runIODataOffset = runExit + 8

	// KVM_EXIT_MMIO: u64 phys_addr, u8 data[8], u32 len, u8 is_write.
	runMMIOAddr    = runExit + 0
	runMMIOData    = runExit + 8
	runMMIOLen     = runExit + 16
	runMMIOIsWrite = runExit + 20

	// KVM_EXIT_SYSTEM_EVENT: u32 type, u32 ndata, u64 data[16].
	runSysEventType = runExit + 0

	// KVM_EXIT_FAIL_ENTRY: u64 hardware_entry_failure_reason, u32 cpu.
	runFailReason = runExit + 0

	// KVM_EXIT_INTERNAL_ERROR: u32 suberror, u32 ndata, u64 data[16].
	runInternalSuberror = runExit + 0

	// After the 256-byte exit union: u64 kvm_valid_regs, u64
	// kvm_dirty_regs, then the synced registers (struct kvm_sync_regs,
	// whose first member is struct kvm_regs).
	runValidRegs = sizeofRunHeader
	runSyncRegs  = sizeofRunHeader + 16

	// syncX86Regs is KVM_SYNC_X86_REGS: with it in kvm_valid_regs, KVM
	// stores the general-purpose registers in kvm_run at every exit.
	syncX86Regs = 1 << 0
)

// IO directions of a KVM_EXIT_IO.
const (
	IOIn  = 0
	IOOut = 1
)

// VCPU is a handle on one virtual CPU fd and its mapped kvm_run area. Run and
// the exit accessors belong to the one goroutine that runs the vCPU; Kick may
// be called from any goroutine.
type VCPU struct {
	id  int
	fd  int
	run []byte // the shared kvm_run page(s)
	tid atomic.Int32
}

// ID returns the vCPU index (its APIC ID).
func (c *VCPU) ID() int { return c.id }

// FD returns the raw vCPU file descriptor.
func (c *VCPU) FD() int { return c.fd }

// Close unmaps the run area and closes the vCPU fd.
func (c *VCPU) Close() error {
	if err := unix.Munmap(c.run); err != nil {
		return fmt.Errorf("unmap kvm_run of vcpu %d: %w", c.id, err)
	}
	return unix.Close(c.fd)
}

// BindThread records the calling OS thread as the one that runs this vCPU,
// so Kick can signal it. Call it after runtime.LockOSThread.
func (c *VCPU) BindThread() { c.tid.Store(int32(unix.Gettid())) }

// UnbindThread forgets the thread, so later kicks signal nobody. Call it
// before the running goroutine unlocks its OS thread.
func (c *VCPU) UnbindThread() { c.tid.Store(0) }

// kickSignal interrupts KVM_RUN. The Go runtime already tolerates stray
// SIGURG (it uses it for preemption), so no handler is needed.
const kickSignal = unix.SIGURG

// Kick makes the vCPU leave KVM_RUN soon with ExitIntr: it sets
// immediate_exit (so a vCPU about to enter returns at once) and signals the
// bound thread (so one inside the guest comes out).
func (c *VCPU) Kick() error {
	c.setImmediateExit(true)
	tid := c.tid.Load()
	if tid == 0 {
		return nil
	}
	if err := unix.Tgkill(unix.Getpid(), int(tid), kickSignal); err != nil {
		return fmt.Errorf("kick vcpu %d: %w", c.id, err)
	}
	return nil
}

// Run enters the guest until the next exit and returns its reason. A kick or
// a stray signal gives ExitIntr; so does EAGAIN, which KVM returns when an
// application processor still waiting for its Start-Up IPI is woken. The
// caller checks its own state and calls Run again.
func (c *VCPU) Run() (ExitReason, error) {
	errno := runOnce(c.fd)
	c.setImmediateExit(false)
	switch errno {
	case 0:
		return ExitReason(binary.LittleEndian.Uint32(c.run[runExitReason:])), nil
	case unix.EINTR, unix.EAGAIN:
		return ExitIntr, nil
	default:
		return ExitUnknown, fmt.Errorf("KVM_RUN vcpu %d: %w", c.id, errno)
	}
}

// SyncRegs makes KVM store the general-purpose registers in the run area at
// every exit (KVM_CAP_SYNC_REGS), for SyncedRegs; it costs KVM a copy of
// the register file per exit and the VMM no ioctl. Call it before the
// vCPU first runs, and only when CheckExtension(CapSyncRegs) passes
// SyncRegsSupported; KVM_RUN fails otherwise.
func (c *VCPU) SyncRegs() {
	binary.LittleEndian.PutUint64(c.run[runValidRegs:], syncX86Regs)
}

// SyncRegsSupported reports whether a KVM_CAP_SYNC_REGS answer includes
// the general-purpose registers.
func SyncRegsSupported(capability int) bool { return capability&syncX86Regs != 0 }

// IOExit describes a KVM_EXIT_IO. Data aliases the run area: it holds the
// bytes written (out) or receives the bytes to return (in), Size bytes per
// repetition, Count repetitions.
type IOExit struct {
	Port      uint16
	Direction uint8
	Size      uint8
	Count     uint32
	Data      []byte
}

// IO decodes the current KVM_EXIT_IO. It fails if the kernel's data offset
// points outside the run area.
func (c *VCPU) IO() (IOExit, error) {
	e := IOExit{
		Direction: c.run[runIODirection],
		Size:      c.run[runIOSize],
		Port:      binary.LittleEndian.Uint16(c.run[runIOPort:]),
		Count:     binary.LittleEndian.Uint32(c.run[runIOCount:]),
	}
	off := binary.LittleEndian.Uint64(c.run[runIODataOffset:])
	n := uint64(e.Size) * uint64(e.Count)
	if off > uint64(len(c.run)) || n > uint64(len(c.run))-off {
		return e, fmt.Errorf("vcpu %d: io exit data [%#x+%d) outside kvm_run", c.id, off, n)
	}
	e.Data = c.run[off : off+n]
	return e, nil
}

// MMIOExit describes a KVM_EXIT_MMIO. Data aliases the run area (at most 8
// bytes): the bytes written, or where to put the bytes read.
type MMIOExit struct {
	Addr    uint64
	Data    []byte
	IsWrite bool
}

// MMIO decodes the current KVM_EXIT_MMIO.
func (c *VCPU) MMIO() MMIOExit {
	n := binary.LittleEndian.Uint32(c.run[runMMIOLen:])
	if n > 8 {
		n = 8
	}
	return MMIOExit{
		Addr:    binary.LittleEndian.Uint64(c.run[runMMIOAddr:]),
		Data:    c.run[runMMIOData : runMMIOData+int(n)],
		IsWrite: c.run[runMMIOIsWrite] != 0,
	}
}

// SystemEvent returns the type of the current KVM_EXIT_SYSTEM_EVENT.
func (c *VCPU) SystemEvent() SystemEventType {
	return SystemEventType(binary.LittleEndian.Uint32(c.run[runSysEventType:]))
}

// FailEntryReason returns the hardware reason of a KVM_EXIT_FAIL_ENTRY.
func (c *VCPU) FailEntryReason() uint64 {
	return binary.LittleEndian.Uint64(c.run[runFailReason:])
}

// InternalSuberror returns the suberror of a KVM_EXIT_INTERNAL_ERROR.
func (c *VCPU) InternalSuberror() uint32 {
	return binary.LittleEndian.Uint32(c.run[runInternalSuberror:])
}
