package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sentinel errors for images the loaders refuse. Every refusal wraps one of
// them, so callers can tell a bad image from a VMM failure.
var (
	ErrTruncated      = errors.New("image truncated")
	ErrNotBzImage     = errors.New("not a bzImage (no HdrS magic)")
	ErrOldProtocol    = errors.New("boot protocol too old (need 2.12)")
	ErrNot64Bit       = errors.New("kernel has no 64-bit entry point (XLF_KERNEL_64)")
	ErrBadHeader      = errors.New("malformed setup header")
	ErrKernelTooBig   = errors.New("kernel does not fit in guest RAM")
	ErrInitrdTooBig   = errors.New("initrd does not fit in guest RAM")
	ErrCmdlineTooLong = errors.New("command line too long")
	ErrBadELF         = errors.New("malformed ELF image")
	ErrNoPVHEntry     = errors.New("ELF has no XEN_ELFNOTE_PHYS32_ENTRY note")
)

// Setup header field offsets, from the start of the image (which is also
// the offset in boot_params): kernel Documentation/arch/x86/boot.rst,
// "The Real-Mode Kernel Header", and struct setup_header in
// arch/x86/include/uapi/asm/bootparam.h.
const (
	hdrStart         = 0x1f1 // setup_sects: first byte of struct setup_header
	offSetupSects    = 0x1f1
	offBootFlag      = 0x1fe // 0xAA55
	offJump          = 0x200 // jump instruction; its second byte sizes the header
	offMagic         = 0x202 // "HdrS"
	offVersion       = 0x206
	offTypeOfLoader  = 0x210
	offLoadFlags     = 0x211
	offRamdiskImage  = 0x218
	offRamdiskSize   = 0x21c
	offHeapEndPtr    = 0x224
	offCmdLinePtr    = 0x228
	offInitrdAddrMax = 0x22c
	offKernelAlign   = 0x230
	offRelocatable   = 0x234
	offXLoadFlags    = 0x236
	offCmdlineSize   = 0x238
	offPrefAddress   = 0x258
	offInitSize      = 0x260
	hdrMaxEnd        = 0x290 // end of the header area in boot_params

	hdrMagic       = 0x53726448 // "HdrS" little-endian
	minVersion     = 0x020c     // 2.12: xloadflags exists
	sectorSize     = 512
	defaultSetupSz = 4 // setup_sects == 0 means 4
)

// loadflags and xloadflags bits (boot.rst, "Details of Header Fields").
const (
	loadedHigh   = 1 << 0 // LOADED_HIGH: protected-mode code at 0x100000
	canUseHeap   = 1 << 7 // CAN_USE_HEAP: heap_end_ptr is valid
	xlfKernel64  = 1 << 0 // XLF_KERNEL_64: 64-bit entry at load address + 0x200
	loaderTypeFF = 0xff   // type_of_loader: undefined/unregistered loader
	heapEndPtr   = 0xfe00 // conventional end of setup heap minus 0x200
)

// SetupHeader is the part of a bzImage's setup header the loader uses.
type SetupHeader struct {
	SetupSects     int    // 512-byte sectors of real-mode setup code after the boot sector
	Version        uint16 // boot protocol version, e.g. 0x020f
	LoadFlags      uint8
	InitrdAddrMax  uint32 // highest address the initrd may occupy
	KernelAlign    uint32 // physical alignment a relocatable kernel needs
	Relocatable    bool
	XLoadFlags     uint16
	CmdlineSize    uint32 // longest command line, NUL excluded
	PrefAddress    uint64 // preferred load address
	InitSize       uint32 // bytes the kernel needs from its load address while it boots
	HeaderEnd      int    // first byte past the setup header (0x202 + jump offset, clamped)
	KernelOffset   int    // offset of the protected-mode kernel in the image
	KernelFileSize int    // bytes of protected-mode kernel in the image
}

// ParseSetupHeader parses and validates the setup header of a bzImage. It
// refuses anything the 64-bit boot protocol cannot start.
func ParseSetupHeader(img []byte) (SetupHeader, error) {
	var h SetupHeader
	if len(img) < offPrefAddress+8+4 {
		return h, fmt.Errorf("bzImage of %d bytes: %w", len(img), ErrTruncated)
	}
	le := binary.LittleEndian
	if le.Uint32(img[offMagic:]) != hdrMagic {
		return h, ErrNotBzImage
	}
	if le.Uint16(img[offBootFlag:]) != 0xaa55 {
		return h, fmt.Errorf("boot_flag %#x: %w", le.Uint16(img[offBootFlag:]), ErrBadHeader)
	}
	h.Version = le.Uint16(img[offVersion:])
	if h.Version < minVersion {
		return h, fmt.Errorf("version %d.%d: %w", h.Version>>8, h.Version&0xff, ErrOldProtocol)
	}
	h.SetupSects = int(img[offSetupSects])
	if h.SetupSects == 0 {
		h.SetupSects = defaultSetupSz
	}
	h.LoadFlags = img[offLoadFlags]
	h.InitrdAddrMax = le.Uint32(img[offInitrdAddrMax:])
	h.KernelAlign = le.Uint32(img[offKernelAlign:])
	h.Relocatable = img[offRelocatable] != 0
	h.XLoadFlags = le.Uint16(img[offXLoadFlags:])
	h.CmdlineSize = le.Uint32(img[offCmdlineSize:])
	h.PrefAddress = le.Uint64(img[offPrefAddress:])
	h.InitSize = le.Uint32(img[offInitSize:])
	h.HeaderEnd = min(offJump+2+int(img[offJump+1]), hdrMaxEnd)
	if h.XLoadFlags&xlfKernel64 == 0 {
		return h, ErrNot64Bit
	}
	return h, h.checkLayout(len(img))
}

// checkLayout validates the sizes and alignments the loader relies on.
func (h *SetupHeader) checkLayout(imgLen int) error {
	h.KernelOffset = (h.SetupSects + 1) * sectorSize
	if h.KernelOffset >= imgLen {
		return fmt.Errorf("setup of %d sectors, image of %d bytes: %w", h.SetupSects, imgLen, ErrTruncated)
	}
	h.KernelFileSize = imgLen - h.KernelOffset
	if h.Relocatable && (h.KernelAlign == 0 || h.KernelAlign&(h.KernelAlign-1) != 0) {
		return fmt.Errorf("kernel_alignment %#x is not a power of two: %w", h.KernelAlign, ErrBadHeader)
	}
	if h.InitSize == 0 {
		return fmt.Errorf("init_size is zero: %w", ErrBadHeader)
	}
	if h.HeaderEnd < offInitSize+4 {
		return fmt.Errorf("setup header ends at %#x, before init_size: %w", h.HeaderEnd, ErrBadHeader)
	}
	return nil
}
