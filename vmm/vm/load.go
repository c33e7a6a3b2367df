package vm

import (
	"bytes"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// imageKind is the format of the kernel image.
type imageKind int

const (
	imageUnknown imageKind = iota
	imageBzImage
	imageELF
	imageFlat
)

// kindOf tells a bzImage ("HdrS" at 0x202, boot.rst) from an ELF.
func (v *VM) kindOf() imageKind {
	k := v.cfg.Kernel
	switch {
	case v.cfg.Flat != nil:
		return imageFlat
	case len(k) >= 4 && bytes.Equal(k[:4], []byte("\x7fELF")):
		return imageELF
	case len(k) >= 0x206 && bytes.Equal(k[0x202:0x206], []byte("HdrS")):
		return imageBzImage
	}
	return imageUnknown
}

// guestMode is the CPU mode the kernel is entered in, for the PVM guard.
func (v *VM) guestMode() kvm.GuestMode {
	if v.kindOf() != imageBzImage {
		return kvm.GuestLegacy
	}
	if v.cfg.PVMGuest {
		return kvm.GuestLong64PVM
	}
	return kvm.GuestLong64
}

// load writes the kernel, initrd and command line into guest RAM and records
// the boot vCPU's entry state.
func (v *VM) load() error {
	var err error
	switch v.kindOf() {
	case imageBzImage:
		v.entry, err = boot.LoadLinux(v.mem, v.cfg.Kernel, v.cfg.Initrd, v.cfg.Cmdline)
	case imageELF:
		v.entry, err = boot.LoadPVH(v.mem, v.cfg.Kernel, v.cfg.Initrd, v.cfg.Cmdline)
	case imageFlat:
		v.entry, err = v.loadFlat()
	default:
		return fmt.Errorf("kernel image is neither a bzImage nor an ELF")
	}
	if err != nil {
		return fmt.Errorf("load kernel: %w", err)
	}
	return nil
}

// loadFlat copies a real-mode image and returns the real-mode entry state:
// CS base = Addr, IP = 0, every other segment at 0.
func (v *VM) loadFlat() (boot.EntryState, error) {
	f := v.cfg.Flat
	if err := v.mem.WriteAt(f.Code, f.Addr); err != nil {
		return boot.EntryState{}, fmt.Errorf("flat image at %#x: %w", f.Addr, err)
	}
	seg := func(sel uint16, typ uint8) boot.Segment {
		return boot.Segment{Base: uint64(sel) << 4, Limit: 0xffff, Selector: sel, Type: typ, Present: 1, S: 1}
	}
	data := seg(0, 3)
	return boot.EntryState{
		RIP: 0, RSP: 0x7000, RFLAGS: 2,
		CR0: 0x60000010, // reset value: CD, NW, ET
		CS:  seg(uint16(f.Addr>>4), 0xb),
		DS:  data, ES: data, FS: data, GS: data, SS: data,
		TR:  boot.Segment{Limit: 0xffff, Type: 0xb, Present: 1},
		LDT: boot.Segment{Limit: 0xffff, Type: 0x2, Present: 1},
		GDT: boot.DescriptorTable{Limit: 0xffff},
		IDT: boot.DescriptorTable{Limit: 0xffff},
	}, nil
}
