package boot

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestParseSetupHeader(t *testing.T) {
	f := defaultFake()
	img := f.build()
	h, err := ParseSetupHeader(img)
	if err != nil {
		t.Fatal(err)
	}
	if h.SetupSects != 39 || h.Version != 0x020f || !h.Relocatable || h.KernelAlign != 0x200000 ||
		h.PrefAddress != 0x1000000 || h.InitSize != 0x800000 || h.CmdlineSize != 2047 ||
		h.InitrdAddrMax != 0x7fffffff || h.XLoadFlags != 0x7f {
		t.Fatalf("header %+v", h)
	}
	if h.KernelOffset != 40*512 || h.KernelFileSize != 0x3000 {
		t.Errorf("kernel at %#x size %#x", h.KernelOffset, h.KernelFileSize)
	}
	if h.HeaderEnd != 0x26c {
		t.Errorf("header end %#x, want 0x26c", h.HeaderEnd)
	}
}

func TestSetupSectsZeroMeansFour(t *testing.T) {
	f := defaultFake()
	f.setupSects = 0
	h, err := ParseSetupHeader(f.build())
	if err != nil {
		t.Fatal(err)
	}
	if h.SetupSects != 4 || h.KernelOffset != 5*512 {
		t.Fatalf("setup_sects 0: got %d sectors, kernel at %#x", h.SetupSects, h.KernelOffset)
	}
}

func TestParseSetupHeaderRefuses(t *testing.T) {
	le := binary.LittleEndian
	for _, tc := range []struct {
		name string
		mod  func(f *fakeBzImage, img []byte) []byte
		want error
	}{
		{"empty", func(_ *fakeBzImage, _ []byte) []byte { return nil }, ErrTruncated},
		{"cut in header", func(_ *fakeBzImage, img []byte) []byte { return img[:0x240] }, ErrTruncated},
		{"cut after setup", func(_ *fakeBzImage, img []byte) []byte { return img[:40*512] }, ErrTruncated},
		{"no magic", func(_ *fakeBzImage, img []byte) []byte { copy(img[offMagic:], "HdrT"); return img }, ErrNotBzImage},
		{"no boot flag", func(_ *fakeBzImage, img []byte) []byte { img[offBootFlag] = 0; return img }, ErrBadHeader},
		{"protocol 2.11", func(_ *fakeBzImage, img []byte) []byte { le.PutUint16(img[offVersion:], 0x020b); return img }, ErrOldProtocol},
		{"32-bit only", func(_ *fakeBzImage, img []byte) []byte { le.PutUint16(img[offXLoadFlags:], 0x7e); return img }, ErrNot64Bit},
		{"alignment not power of two", func(_ *fakeBzImage, img []byte) []byte { le.PutUint32(img[offKernelAlign:], 0x300000); return img }, ErrBadHeader},
		{"zero alignment", func(_ *fakeBzImage, img []byte) []byte { le.PutUint32(img[offKernelAlign:], 0); return img }, ErrBadHeader},
		{"zero init_size", func(_ *fakeBzImage, img []byte) []byte { le.PutUint32(img[offInitSize:], 0); return img }, ErrBadHeader},
		{"short header", func(_ *fakeBzImage, img []byte) []byte { img[offJump+1] = 0x20; return img }, ErrBadHeader},
		{"setup past end", func(_ *fakeBzImage, img []byte) []byte { img[offSetupSects] = 0xff; return img }, ErrTruncated},
	} {
		f := defaultFake()
		img := tc.mod(&f, f.build())
		if _, err := ParseSetupHeader(img); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}
