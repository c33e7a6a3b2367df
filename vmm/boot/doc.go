// Package boot puts a guest kernel into guest memory and describes the CPU
// state it must start in. It is pure Go over *memory.Memory and plain data:
// it issues no ioctls. The VMM core applies the EntryState, the CPUID entries
// and the MSR list it returns to the vCPUs.
//
// Two entry paths are supported:
//
//   - the Linux x86 boot protocol for a bzImage (kernel
//     Documentation/arch/x86/boot.rst), entered directly in 64-bit mode with
//     identity-mapped page tables, a flat GDT and RSI pointing at boot_params;
//   - PVH (Xen's HVM direct boot ABI, xen/include/public/arch-x86/hvm/start_info.h)
//     for an ELF vmlinux or a tiny test guest carrying
//     XEN_ELFNOTE_PHYS32_ENTRY, entered in 32-bit protected mode with EBX
//     pointing at hvm_start_info.
//
// The guest physical layout both paths share is in layout.go. Every image is
// hostile input: parsers return sentinel errors and never write outside
// guest RAM.
package boot
