package boot

import (
	"encoding/binary"
)

// fakeBzImage describes a synthetic bzImage built from the boot.rst field
// table, for tests that must not depend on a real kernel being present.
type fakeBzImage struct {
	setupSects  uint8
	version     uint16
	xloadflags  uint16
	relocatable bool
	align       uint32
	pref        uint64
	initSize    uint32
	cmdlineSize uint32
	initrdMax   uint32
	kernelSize  int
}

// defaultFake returns a header like a Debian 6.1 kernel's, with a small
// payload.
func defaultFake() fakeBzImage {
	return fakeBzImage{
		setupSects: 39, version: 0x020f, xloadflags: 0x7f, relocatable: true,
		align: 0x200000, pref: 0x1000000, initSize: 0x800000, cmdlineSize: 2047,
		initrdMax: 0x7fffffff, kernelSize: 0x3000,
	}
}

// build returns the image bytes. The payload is a recognisable pattern so
// tests can check where it landed.
func (f fakeBzImage) build() []byte {
	sects := int(f.setupSects)
	if sects == 0 {
		sects = 4
	}
	img := make([]byte, (sects+1)*512+f.kernelSize)
	le := binary.LittleEndian
	img[offSetupSects] = f.setupSects
	le.PutUint16(img[offBootFlag:], 0xaa55)
	img[offJump] = 0xeb
	img[offJump+1] = 0x6a // header ends at 0x26c, as in 6.1
	le.PutUint32(img[offMagic:], hdrMagic)
	le.PutUint16(img[offVersion:], f.version)
	img[offLoadFlags] = loadedHigh
	le.PutUint32(img[offInitrdAddrMax:], f.initrdMax)
	le.PutUint32(img[offKernelAlign:], f.align)
	if f.relocatable {
		img[offRelocatable] = 1
	}
	le.PutUint16(img[offXLoadFlags:], f.xloadflags)
	le.PutUint32(img[offCmdlineSize:], f.cmdlineSize)
	le.PutUint64(img[offPrefAddress:], f.pref)
	le.PutUint32(img[offInitSize:], f.initSize)
	for i := (sects + 1) * 512; i < len(img); i++ {
		img[i] = byte(i*7 + 3)
	}
	return img
}
