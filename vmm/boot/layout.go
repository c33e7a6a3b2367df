package boot

// Guest physical layout shared by the boot paths, the ACPI builder and the
// VMM core. Everything below 1 MiB is written by the VMM before the first
// vCPU runs; the e820 map (E820) describes exactly these ranges.
const (
	// GDTAddr is where the boot GDT is written: null, null, code (0x10),
	// data (0x18) and TSS (0x20) descriptors, 8 bytes each.
	GDTAddr = 0x500
	// IDTAddr is an empty IDT (limit 0): the guest installs its own before
	// enabling interrupts.
	IDTAddr = 0x520

	// ZeroPage is where boot_params (the "zero page") goes for a bzImage,
	// and where hvm_start_info goes for PVH. One 4 KiB page.
	ZeroPage = 0x7000
	// BootStack is the initial RSP: it grows down below the page tables.
	BootStack = 0x8ff0

	// PML4Addr is the top-level identity page table. The PDPT follows at
	// PDPTAddr and four page directories of 2 MiB pages at PDAddr, covering
	// the first 4 GiB (IdentityMapSize).
	PML4Addr = 0x9000
	// PDPTAddr is the page-directory-pointer table the PML4's entry 0 uses.
	PDPTAddr = 0xa000
	// PDAddr is the first of four page directories (0xb000..0xefff).
	PDAddr = 0xb000
	// IdentityMapSize is how much the boot page tables identity-map.
	IdentityMapSize = 4 << 30

	// CmdlineAddr is where the kernel command line is written, NUL
	// terminated.
	CmdlineAddr = 0x20000
	// CmdlineMax is the most bytes (NUL included) the command line area
	// holds; the kernel's own header cmdline_size usually limits it first.
	CmdlineMax = 0x10000

	// EBDAStart is the start of the extended BIOS data area, the end of
	// usable low RAM. [EBDAStart, ACPIStart) is reserved in e820.
	EBDAStart = 0x9fc00
	// ACPIStart is the start of the ACPI tables (DSDT, FADT, MADT, XSDT).
	// The range is typed ACPI (3) in e820. It lies in the legacy VGA hole,
	// which a microVM does not emulate, as in Firecracker.
	ACPIStart = 0xa0000
	// ACPIEnd is the first byte past the ACPI tables area (8 KiB).
	ACPIEnd = 0xa2000
	// RSDPAddr is the ACPI RSDP, inside the BIOS area 0xe0000..0xfffff that
	// e820 marks reserved; boot_params.acpi_rsdp_addr and
	// hvm_start_info.rsdp_paddr point at it.
	RSDPAddr = 0xe0000
	// SMBIOSAddr is the SMBIOS 3.0 64-bit entry point ("_SM3_"), on the
	// 16-byte boundary in 0xf0000..0xfffff where Linux scans for it, inside
	// the reserved BIOS area; the structure table follows at
	// SMBIOSTableAddr and must end by SMBIOSEnd, where the reset vector
	// starts.
	SMBIOSAddr      = 0xf0000
	SMBIOSTableAddr = 0xf0020
	SMBIOSEnd       = ResetVector
	// ResetVector is F000:FFF0, the last 16 bytes of the BIOS area, where
	// a PC's firmware starts after a reset and where Linux's BIOS reboot
	// method jumps (see ResetVectorCode).
	ResetVector = 0xffff0
	// HighMemStart is where RAM above the legacy area begins (1 MiB).
	HighMemStart = 0x100000

	// MMIOHoleStart is the start of the 32-bit MMIO hole: RAM stops here
	// and continues at MMIOHoleEnd (4 GiB).
	MMIOHoleStart = 0xc0000000
	// MMIOHoleEnd is the end of the 32-bit MMIO hole, 4 GiB.
	MMIOHoleEnd = 0x100000000

	// VirtioMMIOBase is the first virtio-mmio device; device i is at
	// VirtioMMIOBase + i*VirtioMMIOSize and raises IRQ (GSI) VirtioIRQBase+i.
	VirtioMMIOBase = 0xd0000000
	// VirtioMMIOSize is the size of one virtio-mmio register window.
	VirtioMMIOSize = 0x1000
	// VirtioIRQBase is the GSI of virtio-mmio device 0.
	VirtioIRQBase = 5
	// VirtioIRQMax is the last GSI of a virtio-mmio device: the one above
	// it, the IOAPIC's last pin, is the power button's (PowerButtonGSI).
	VirtioIRQMax = IOAPICPins - 2
	// MaxVirtioDevices is how many virtio-mmio devices have a GSI.
	MaxVirtioDevices = VirtioIRQMax - VirtioIRQBase + 1
	// PowerButtonGSI is the interrupt of the ACPI Generic Event Device
	// whose event is the power button (package acpi): the IOAPIC's last
	// pin, edge-triggered, used by nothing else.
	PowerButtonGSI = IOAPICPins - 1
	// IOAPICPins is how many inputs (GSIs 0..23) the in-kernel IOAPIC has.
	IOAPICPins = 24

	// IOAPICAddr is the in-kernel IOAPIC's MMIO base.
	IOAPICAddr = 0xfec00000
	// LAPICAddr is the local APIC's MMIO base.
	LAPICAddr = 0xfee00000
	// TSSAddr is the three pages KVM_SET_TSS_ADDR needs on Intel, at the
	// top of the hole below the BIOS ROM area.
	TSSAddr = 0xfffbd000
)

// VirtioMMIODevice returns the MMIO base and GSI of virtio-mmio device i
// in this layout.
func VirtioMMIODevice(i int) (base uint64, gsi uint32) {
	return VirtioMMIOBase + uint64(i)*VirtioMMIOSize, VirtioIRQBase + uint32(i)
}
