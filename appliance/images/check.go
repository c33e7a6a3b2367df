package images

import (
	"errors"
	"fmt"
	"os"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

// scratchSizes are the sizes of throwaway guest memory a PVH kernel is
// loaded into to check it, smallest first: a kernel whose segments lie
// beyond one size (ErrKernelTooBig) is tried in the next, so checking a
// tiny guest never costs more than a few MiB on a small host.
var scratchSizes = []int{16 << 20, 128 << 20, 512 << 20}

// CheckKernelFile reads the kernel at path and returns its format.
func CheckKernelFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read kernel: %w", err)
	}
	return CheckKernel(b)
}

// CheckKernel returns "bzimage" when img has a setup header the 64-bit
// boot protocol can start (kernel Documentation/arch/x86/boot.rst), "pvh"
// when it is an ELF with a XEN_ELFNOTE_PHYS32_ENTRY that loads into guest
// RAM, and an ErrInvalid error otherwise.
func CheckKernel(img []byte) (string, error) {
	if len(img) > MaxKernel {
		return "", fmt.Errorf("%w: kernel larger than %d bytes", ErrInvalid, MaxKernel)
	}
	_, bzErr := boot.ParseSetupHeader(img)
	if bzErr == nil {
		return "bzimage", nil
	}
	if len(img) >= 4 && string(img[:4]) == "\x7fELF" {
		var err error
		for _, size := range scratchSizes {
			if _, err = boot.LoadPVH(memory.FromBytes(make([]byte, size)), img, nil, ""); !errors.Is(err, boot.ErrKernelTooBig) {
				break
			}
		}
		if err != nil {
			return "", fmt.Errorf("%w: kernel is an ELF that cannot boot through PVH: %v", ErrInvalid, err)
		}
		return "pvh", nil
	}
	if errors.Is(bzErr, boot.ErrNotBzImage) || len(img) < 0x206 {
		return "", fmt.Errorf("%w: kernel is neither a bzImage nor a PVH ELF", ErrInvalid)
	}
	return "", fmt.Errorf("%w: kernel: %v", ErrInvalid, bzErr)
}
