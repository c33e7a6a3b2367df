package acpi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// Power management registers (see the package comment).
const (
	// SleepControlPort is the I/O port of the FADT's one-byte sleep control
	// register: the guest writes SLP_TYP|SLP_EN there to power off.
	SleepControlPort = 0x600
	// SleepStatusPort is the I/O port of the one-byte sleep status register.
	// The guest writes WAK_STS (0x80) there to clear it before sleeping and
	// polls it afterwards; the VMM ignores writes and reads it as 0.
	SleepStatusPort = 0x601
	// ResetPort is the I/O port of the FADT's one-byte reset register
	// (RESET_REG, ACPI 6.5 §4.8.3.6): the guest writes ResetValue there to
	// reset the machine (Linux's reboot=a, and its first try by default
	// on a machine that is not hardware-reduced).
	ResetPort = 0x602
	// ResetValue is the FADT's RESET_VALUE.
	ResetValue = 0x0e
	// SleepTypeS5 is SLP_TYP for S5 (soft off), the value in \_S5_.
	SleepTypeS5 = 5
	sleepEnable = 1 << 5 // SLP_EN in the sleep control register (§4.8.3.7)
)

// IsPoweroff reports whether a byte written to SleepControlPort asks for
// S5: SLP_EN set and SLP_TYP (bits 4:2) = SleepTypeS5.
func IsPoweroff(v byte) bool {
	return v&sleepEnable != 0 && v>>2&7 == SleepTypeS5
}

// ErrTooLarge reports tables that do not fit in boot.ACPIStart..ACPIEnd.
var ErrTooLarge = errors.New("ACPI tables do not fit in their area")

// MMIODevice is one virtio-mmio device to describe in the DSDT.
type MMIODevice struct {
	Base uint64 // MMIO base, below 4 GiB
	Size uint64 // window size
	GSI  uint32 // IOAPIC input, edge-triggered active-high
}

// Config says what the tables describe.
type Config struct {
	CPUs    int          // vCPUs, 1..boot.MaxCPUs; APIC IDs 0..CPUs-1
	Devices []MMIODevice // virtio-mmio devices, in order (V000, V001, ...)
}

// OEM identification in every table header.
const (
	oemID       = "IRONVS"
	oemTableID  = "IRONVISR"
	oemRevision = 1
	creatorID   = "IRVS"
	creatorRev  = 1
	headerSize  = 36
)

// Build writes the RSDP at boot.RSDPAddr and the DSDT, FADT, MADT and XSDT
// (in that order, 8-byte aligned) from boot.ACPIStart. It checks cfg and
// the sizes before writing anything.
func Build(mem *memory.Memory, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("build ACPI tables: %w", err)
	}
	dsdt := DSDT(cfg.Devices)
	madt := MADT(cfg.CPUs)
	addr := uint64(boot.ACPIStart)
	dsdtAddr := addr
	addr = align8(addr + uint64(len(dsdt)))
	fadtAddr := addr
	fadt := FADT(dsdtAddr)
	addr = align8(addr + uint64(len(fadt)))
	madtAddr := addr
	addr = align8(addr + uint64(len(madt)))
	xsdtAddr := addr
	xsdt := XSDT(fadtAddr, madtAddr)
	if end := xsdtAddr + uint64(len(xsdt)); end > boot.ACPIEnd {
		return fmt.Errorf("build ACPI tables: %d bytes: %w", end-boot.ACPIStart, ErrTooLarge)
	}
	for _, t := range []struct {
		addr uint64
		b    []byte
	}{{dsdtAddr, dsdt}, {fadtAddr, fadt}, {madtAddr, madt}, {xsdtAddr, xsdt}, {boot.RSDPAddr, RSDP(xsdtAddr)}} {
		if err := mem.WriteAt(t.b, t.addr); err != nil {
			return fmt.Errorf("build ACPI tables: write %.4s at %#x: %w", t.b, t.addr, err)
		}
	}
	return nil
}

// validate checks the CPU count and that each device fits a Memory32Fixed
// descriptor and an IOAPIC pin.
func (c Config) validate() error {
	if c.CPUs < 1 || c.CPUs > boot.MaxCPUs {
		return fmt.Errorf("%d CPUs, want 1..%d", c.CPUs, boot.MaxCPUs)
	}
	if len(c.Devices) > 1000 {
		return fmt.Errorf("%d devices: %w", len(c.Devices), ErrTooLarge)
	}
	for i, d := range c.Devices {
		if d.Size == 0 || d.Size > 1<<32 || d.Base > 1<<32-d.Size {
			return fmt.Errorf("device %d: window [%#x, +%#x) not below 4 GiB", i, d.Base, d.Size)
		}
		if d.GSI > boot.VirtioIRQMax {
			return fmt.Errorf("device %d: GSI %d, want %d..%d (%d is the power button)", i, d.GSI, boot.VirtioIRQBase, boot.VirtioIRQMax, boot.PowerButtonGSI)
		}
	}
	return nil
}

// align8 rounds up to a multiple of 8.
func align8(v uint64) uint64 { return (v + 7) &^ 7 }

// header returns a table with its 36-byte System Description Table Header
// (§5.2.6) followed by body, with Length and Checksum filled in.
func header(sig string, revision byte, body []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(body))
	copy(b[0:4], sig)
	binary.LittleEndian.PutUint32(b[4:], uint32(headerSize+len(body)))
	b[8] = revision
	copy(b[10:16], oemID)
	copy(b[16:24], oemTableID)
	binary.LittleEndian.PutUint32(b[24:], oemRevision)
	copy(b[28:32], creatorID)
	binary.LittleEndian.PutUint32(b[32:], creatorRev)
	b = append(b, body...)
	b[9] = checksum(b)
	return b
}

// checksum returns the byte that makes b (with 0 in its checksum field)
// sum to zero modulo 256.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// RSDP returns the 36-byte ACPI 2.0+ Root System Description Pointer
// (§5.2.5.3): no RSDT, XsdtAddress = xsdt, both checksums set.
func RSDP(xsdt uint64) []byte {
	b := make([]byte, 36)
	copy(b, "RSD PTR ")
	copy(b[9:15], oemID)
	b[15] = 2 // revision: ACPI 2.0+
	binary.LittleEndian.PutUint32(b[20:], 36)
	binary.LittleEndian.PutUint64(b[24:], xsdt)
	b[8] = checksum(b[:20])
	b[32] = checksum(b)
	return b
}

// XSDT returns the Extended System Description Table (§5.2.8) listing the
// given tables' addresses.
func XSDT(tables ...uint64) []byte {
	body := make([]byte, 0, 8*len(tables))
	for _, t := range tables {
		body = binary.LittleEndian.AppendUint64(body, t)
	}
	return header("XSDT", 1, body)
}
