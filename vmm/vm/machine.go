package vm

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/devices/i8042"
	"github.com/ironvisor/ironvisor/vmm/devices/serial"
	"github.com/ironvisor/ironvisor/vmm/exitcode"
	"github.com/ironvisor/ironvisor/vmm/kvm"
	"github.com/ironvisor/ironvisor/vmm/memory"
	"github.com/ironvisor/ironvisor/vmm/ring"
)

// VM is one built virtual machine, ready to Run. Build it with New; a VM
// runs once.
type VM struct {
	cfg   Config
	log   *slog.Logger
	sys   *kvm.System
	vm    *kvm.VM
	ram   [][]byte // host mappings behind mem, released on Close
	mem   *memory.Memory
	entry boot.EntryState
	vcpus []*kvm.VCPU
	pio   *Bus
	mmio  *Bus
	uart  *serial.UART
	out   *serial.Output
	ring  *ring.Buffer
	kbd   *i8042.Controller
	// pwrBtn is the irqfd of the ACPI power button's GSI.
	pwrBtn *eventFD
	virt   []*virtioDev
	// devCounters add each virtio device's counters to a map.
	devCounters []func(map[string]uint64)
	fds         []io.Closer // eventfds, closed on Close

	kind kvm.Kind // the host's KVM flavour, for the crash report
	// exits holds each vCPU's last exit, indexed by vCPU ID (see lastExit).
	exits []lastExit
	// shutdownVCPU is the first vCPU that took a shutdown exit, or -1.
	shutdownVCPU atomic.Int32
	// syncRegs: KVM stores the registers in kvm_run at every exit, and
	// recordExit keeps them (KVM_CAP_SYNC_REGS).
	syncRegs bool

	state  runState
	stats  stats
	vcpuWG sync.WaitGroup // vCPU goroutines of Run
}

// New builds the VM described by cfg: it checks the guest can run on this
// host's KVM, maps RAM, creates the irqchip and PIT, loads the kernel (a
// malformed image fails here, before any vCPU exists), wires the devices,
// writes the ACPI tables and creates the vCPUs in their boot state.
func New(cfg Config) (*VM, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("vm config: %w", err)
	}
	v := &VM{cfg: cfg, log: cfg.Log, pio: NewBus("pio"), mmio: NewBus("mmio")}
	v.state.init()
	v.shutdownVCPU.Store(-1)
	if err := v.build(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// build does the work of New; on error the caller closes what was made.
func (v *VM) build() error {
	kind := v.cfg.Kind
	if kind == "" {
		kind = kvm.DetectKind(v.cfg.SysRoot)
	}
	v.kind = kind
	if err := kvm.CheckGuest(kind, v.guestMode()); err != nil {
		return err
	}
	sys, err := v.openKVM()
	if err != nil {
		return err
	}
	v.sys = sys
	if v.vm, err = sys.CreateVM(); err != nil {
		return err
	}
	if err := v.vm.SetTSSAddr(boot.TSSAddr); err != nil {
		return err
	}
	if err := v.vm.CreateIRQChip(); err != nil {
		return err
	}
	if err := v.vm.CreatePIT2(); err != nil {
		return err
	}
	if err := v.mapRAM(); err != nil {
		return err
	}
	if err := v.load(); err != nil {
		return err
	}
	// Guest RAM holds the kernel and initrd now, and a reset ends the VM
	// rather than loading them again: let the garbage collector have the
	// host copies (tens of MiB for a distribution kernel and initrd).
	v.cfg.Kernel, v.cfg.Initrd = nil, nil
	if err := v.addDevices(); err != nil {
		return err
	}
	if err := v.buildACPI(); err != nil {
		return err
	}
	if err := v.buildSMBIOS(); err != nil {
		return err
	}
	if err := v.buildResetVector(); err != nil {
		return err
	}
	return v.createVCPUs()
}

// openKVM opens the KVM device, or adopts the inherited one.
func (v *VM) openKVM() (*kvm.System, error) {
	if v.cfg.KVM == nil {
		return kvm.Open(v.cfg.Device)
	}
	fd, err := unix.Dup(int(v.cfg.KVM.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup kvm fd: %w", err)
	}
	v.cfg.KVM.Close()
	s, err := kvm.FromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inherited kvm fd: %w", err)
	}
	return s, nil
}

// mapRAM allocates guest RAM, one host mapping per range of the layout (the
// 32-bit MMIO hole splits it), and registers each as a KVM memory slot.
func (v *VM) mapRAM() error {
	var regions []memory.Region
	for slot, r := range boot.RAMRanges(v.cfg.MemSize) {
		b, err := memory.Allocate(r.End - r.Start)
		if err != nil {
			return err
		}
		v.ram = append(v.ram, b)
		if err := v.vm.SetUserMemoryRegion(uint32(slot), r.Start, b); err != nil {
			return err
		}
		regions = append(regions, memory.Region{GPA: r.Start, Data: b})
	}
	mem, err := memory.New(regions...)
	if err != nil {
		return fmt.Errorf("guest memory: %w", err)
	}
	v.mem = mem
	return nil
}

// Memory returns guest RAM.
func (v *VM) Memory() *memory.Memory { return v.mem }

// Console returns the ring buffer holding the newest console output.
func (v *VM) Console() *ring.Buffer { return v.ring }

// Close stops the VM if it is running, waits for its vCPUs to leave, and
// releases the vCPUs, the VM, guest RAM and the device fds.
func (v *VM) Close() error {
	v.finish(exitcode.Stopped, "closed by the host", nil)
	v.vcpuWG.Wait()
	for _, c := range v.fds {
		c.Close() // wakes the kick goroutines
	}
	v.fds = nil
	for _, d := range v.virt {
		d.stop()
	}
	for _, c := range v.vcpus {
		c.Close()
	}
	v.vcpus = nil
	if v.vm != nil {
		v.vm.Close()
		v.vm = nil
	}
	if v.sys != nil {
		v.sys.Close()
		v.sys = nil
	}
	for _, b := range v.ram {
		memory.Release(b)
	}
	v.ram = nil
	if v.out != nil {
		v.out.Flush()
	}
	return nil
}
