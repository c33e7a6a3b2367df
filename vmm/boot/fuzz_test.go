package boot

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// guardedMemory returns guest memory of size bytes whose backing array has a
// poisoned tail the loaders must never reach, and a check for that tail.
func guardedMemory(size int) (*memory.Memory, func(t *testing.T)) {
	const guard = 4096
	backing := make([]byte, size+guard)
	for i := size; i < len(backing); i++ {
		backing[i] = 0xa5
	}
	mem := memory.FromBytes(backing[:size:size])
	return mem, func(t *testing.T) {
		t.Helper()
		if !bytes.Equal(backing[size:], bytes.Repeat([]byte{0xa5}, guard)) {
			t.Fatal("loader wrote past the end of guest RAM")
		}
	}
}

func FuzzLoadLinux(f *testing.F) {
	f.Add(defaultFake().build(), []byte("initrd"), "console=ttyS0")
	small := defaultFake()
	small.initSize, small.pref, small.setupSects = 0x1000, 0x100000, 0
	f.Add(small.build(), []byte{}, "")
	mem, check := guardedMemory(12 << 20)
	f.Fuzz(func(t *testing.T, img, initrd []byte, cmdline string) {
		s, err := LoadLinux(mem, img, initrd, cmdline)
		check(t)
		if err != nil {
			return
		}
		h, _ := ParseSetupHeader(img)
		if s.RIP < HighMemStart || s.RIP+uint64(h.InitSize) > 12<<20+0x200 {
			t.Fatalf("accepted kernel entering at %#x with init_size %#x", s.RIP, h.InitSize)
		}
	})
}

func FuzzParseSetupHeader(f *testing.F) {
	f.Add(defaultFake().build())
	f.Fuzz(func(t *testing.T, img []byte) {
		h, err := ParseSetupHeader(img)
		if err != nil {
			return
		}
		if h.KernelOffset+h.KernelFileSize != len(img) || h.KernelFileSize <= 0 || h.HeaderEnd > hdrMaxEnd {
			t.Fatalf("inconsistent header %+v for %d bytes", h, len(img))
		}
	})
}

func FuzzLoadPVH(f *testing.F) {
	seg := testSeg{0x100000, []byte{0xf4, 0xeb, 0xfd}, 0x2000}
	f.Add(buildELF(true, entryNote(0x100000), seg), []byte("rd"), "x")
	f.Add(buildELF(false, xenNote(xenPhys32Note, []byte{0, 0, 0x10, 0}), seg), []byte{}, "")
	mem, check := guardedMemory(4 << 20)
	f.Fuzz(func(t *testing.T, elf, initrd []byte, cmdline string) {
		s, err := LoadPVH(mem, elf, initrd, cmdline)
		check(t)
		if err == nil && (s.RIP < HighMemStart || s.RIP >= 4<<20) {
			t.Fatalf("accepted entry %#x outside RAM above 1 MiB", s.RIP)
		}
		if err != nil && !errors.Is(err, ErrBadELF) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNoPVHEntry) &&
			!errors.Is(err, ErrKernelTooBig) && !errors.Is(err, ErrInitrdTooBig) && !errors.Is(err, ErrCmdlineTooLong) {
			t.Fatalf("refusal without a sentinel error: %v", err)
		}
	})
}
