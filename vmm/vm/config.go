package vm

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/boot/smbios"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// Config describes one VM. Zero values mean the documented defaults.
type Config struct {
	// Kernel is the guest kernel image: a bzImage, or a PVH ELF (vmlinux or
	// a tiny test guest). Ignored when Flat is set.
	Kernel []byte
	// Initrd is the initial ramdisk; nil for none.
	Initrd []byte
	// Cmdline is the kernel command line.
	Cmdline string
	// Flat, if set, is a flat real-mode image loaded instead of Kernel
	// (tiny test guests written by the project).
	Flat *FlatImage
	// PVMGuest says the 64-bit kernel was built as a PVM guest, so it may run
	// on a kvm_pvm host.
	PVMGuest bool

	// MemSize is guest RAM in bytes (required).
	MemSize uint64
	// CPUs is the number of vCPUs; 0 means 1.
	CPUs int

	// Disks are virtio-blk devices, in order.
	Disks []Disk
	// Taps are virtio-net devices, in order.
	Taps []Tap
	// NoRNG leaves out the virtio-rng device.
	NoRNG bool

	// SMBIOS is what the SMBIOS tables say about the machine: the
	// instance's UUID, serial and asset tag. The zero value gives the
	// defaults (manufacturer "Ironvisor", no serial, no UUID).
	SMBIOS smbios.Info

	// Console receives the guest's serial output; nil discards it.
	Console io.Writer
	// ConsoleLimit caps the bytes written to Console (a log file must not
	// fill the host's disk); 0 means no cap.
	ConsoleLimit int64
	// ConsoleRing is how many bytes of console output are kept for the
	// control socket; 0 means 1 MiB.
	ConsoleRing int

	// KVM is an open KVM device (a jailed VMM inherits it); the VM owns it
	// from New on. If nil, Device is opened.
	KVM *os.File
	// Device is the KVM device path; "" means /dev/kvm.
	Device string
	// Kind is the host's KVM flavour, for the PVM guard; "" means detect it
	// from SysRoot. A jailed VMM has no /sys, so its parent passes the kind.
	Kind kvm.Kind
	// SysRoot is where sysfs is mounted, for detecting the KVM kind; ""
	// means /sys.
	SysRoot string
	// Log receives VMM diagnostics; nil discards them.
	Log *slog.Logger
}

// FlatImage is raw real-mode code loaded at Addr (below 1 MiB, 16-byte
// aligned). vCPU 0 starts at CS = Addr>>4, IP = 0, in real mode.
type FlatImage struct {
	Addr uint64
	Code []byte
}

// Disk is one virtio-blk backing file. The VMM is handed an open file (the
// jail passes fds, never paths outside its root); Path only names it.
type Disk struct {
	File     *os.File
	Path     string
	ReadOnly bool
}

// Tap is one virtio-net device on an open tap fd.
type Tap struct {
	File *os.File
	Name string
	MAC  [6]byte
}

// Limits on what a config may ask for.
const (
	maxCPUs     = 64
	minMemSize  = 1 << 20
	maxDevices  = boot.MaxVirtioDevices // GSIs 5..22; 23 is the power button
	defaultRing = 1 << 20
)

// check validates cfg and fills in defaults.
func (cfg *Config) check() error {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.CPUs < 0 || cfg.CPUs > maxCPUs {
		return fmt.Errorf("cpus %d: want 1..%d", cfg.CPUs, maxCPUs)
	}
	if cfg.MemSize < minMemSize {
		return fmt.Errorf("memory %d bytes: want at least %d", cfg.MemSize, minMemSize)
	}
	if cfg.MemSize%4096 != 0 {
		return fmt.Errorf("memory %d bytes: not a multiple of 4 KiB", cfg.MemSize)
	}
	if cfg.Flat == nil && len(cfg.Kernel) == 0 {
		return fmt.Errorf("no kernel")
	}
	if cfg.Flat != nil && (cfg.Flat.Addr%16 != 0 || cfg.Flat.Addr+uint64(len(cfg.Flat.Code)) > 0xa0000) {
		return fmt.Errorf("flat image at %#x (%d bytes) must be 16-byte aligned and below 0xa0000", cfg.Flat.Addr, len(cfg.Flat.Code))
	}
	n := len(cfg.Disks) + len(cfg.Taps)
	if !cfg.NoRNG {
		n++
	}
	if n > maxDevices {
		return fmt.Errorf("%d virtio devices: at most %d", n, maxDevices)
	}
	if cfg.Device == "" {
		cfg.Device = "/dev/kvm"
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	if cfg.ConsoleRing <= 0 {
		cfg.ConsoleRing = defaultRing
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}
