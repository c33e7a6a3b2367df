// Package ext4 reads files from an ext4 (or ext2/ext3 with extents) file
// system image in user space, so that a guest's kernel, initrd and fstab
// can be read without mounting an untrusted file system in the host
// kernel (issue 12). It reads; it never writes, and it never replays the
// journal.
//
// Why not a library: github.com/diskfs/go-diskfs is the maintained Go
// option, but its ext4 reader has panicked on ordinary images (a makeslice
// panic on fragmented files, diskfs/go-diskfs#429, fixed only in 2026;
// checksum failures on freshly made file systems, #231), it reads whole
// extents into memory, and it is not written for hostile input. The part
// needed here — superblock, group descriptors, inodes, extent trees,
// directories and symlinks — is small enough to write and fuzz.
//
// Layout references: the kernel's Documentation/filesystems/ext4/ (the
// "ondisk" chapters), cited per structure below.
//
// Every image is hostile. Every block number is checked against the file
// system's size, extent trees must shrink in depth at each level and keep
// their extents in order, directory records must stay in their block, and
// symlink chains, directory sizes and tree walks are bounded. Corruption
// is reported as ErrCorrupt, features this reader does not handle as
// ErrUnsupported; nothing panics.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors the reader wraps.
var (
	// ErrNotExt4 is returned when there is no ext2/3/4 superblock.
	ErrNotExt4 = errors.New("ext4: not an ext2/3/4 file system")
	// ErrCorrupt is returned for inconsistent metadata.
	ErrCorrupt = errors.New("ext4: corrupt file system")
	// ErrUnsupported is returned for features this reader does not read.
	ErrUnsupported = errors.New("ext4: unsupported")
	// ErrNotExist is returned when a path does not exist.
	ErrNotExist = errors.New("ext4: file does not exist")
	// ErrTooBig is returned when a file is larger than the caller allows.
	ErrTooBig = errors.New("ext4: file too big")
)

// Superblock feature bits (Documentation/filesystems/ext4/super.rst).
const (
	compatSparseSuper2 = 0x200

	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64Bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	// incompatKnown are the incompatible features a reader may ignore or
	// handles: the rest are refused at Open.
	incompatKnown = incompatFiletype | incompatRecover | incompatMetaBG | incompatExtents |
		incompat64Bit | incompatMMP | incompatFlexBG | incompatEAInode | incompatCsumSeed |
		incompatLargeDir | incompatInlineData | incompatEncrypt | incompatCasefold

	roCompatSparseSuper = 0x1
)

// superMagic is s_magic.
const superMagic = 0xEF53

// superblockOffset is where the superblock starts, whatever the block size.
const superblockOffset = 1024

// superblock holds the fields of struct ext4_super_block this reader uses,
// little-endian at the offsets noted.
//
// This mirrors struct ext4_super_block (fs/ext4/ext4.h), in part.
type superblock struct {
	InodesCount     uint32   // 0x0
	BlocksCountLo   uint32   // 0x4
	FirstDataBlock  uint32   // 0x14
	LogBlockSize    uint32   // 0x18
	BlocksPerGroup  uint32   // 0x20
	InodesPerGroup  uint32   // 0x28
	Magic           uint16   // 0x38
	RevLevel        uint32   // 0x4C
	InodeSize       uint16   // 0x58 (128 when RevLevel is 0)
	FeatureCompat   uint32   // 0x5C
	FeatureIncompat uint32   // 0x60
	FeatureRoCompat uint32   // 0x64
	UUID            [16]byte // 0x68
	VolumeName      [16]byte // 0x78
	DescSize        uint16   // 0xFE (with 64bit)
	FirstMetaBG     uint32   // 0x104
	BlocksCountHi   uint32   // 0x150 (with 64bit)
	BackupBGs       [2]uint32
}

// parseSuperblock decodes the 1024-byte superblock b.
func parseSuperblock(b []byte) superblock {
	le := binary.LittleEndian
	s := superblock{
		InodesCount: le.Uint32(b[0x0:]), BlocksCountLo: le.Uint32(b[0x4:]),
		FirstDataBlock: le.Uint32(b[0x14:]), LogBlockSize: le.Uint32(b[0x18:]),
		BlocksPerGroup: le.Uint32(b[0x20:]), InodesPerGroup: le.Uint32(b[0x28:]),
		Magic: le.Uint16(b[0x38:]), RevLevel: le.Uint32(b[0x4C:]), InodeSize: le.Uint16(b[0x58:]),
		FeatureCompat: le.Uint32(b[0x5C:]), FeatureIncompat: le.Uint32(b[0x60:]),
		FeatureRoCompat: le.Uint32(b[0x64:]), DescSize: le.Uint16(b[0xFE:]),
		FirstMetaBG: le.Uint32(b[0x104:]), BlocksCountHi: le.Uint32(b[0x150:]),
		BackupBGs: [2]uint32{le.Uint32(b[0x24C:]), le.Uint32(b[0x250:])},
	}
	copy(s.UUID[:], b[0x68:])
	copy(s.VolumeName[:], b[0x78:])
	if s.RevLevel == 0 {
		s.InodeSize = 128
	}
	return s
}

// FS is an open ext4 file system. Its methods are safe for concurrent use.
type FS struct {
	r           io.ReaderAt
	sb          superblock
	blockSize   uint64
	blocks      uint64 // total blocks
	groups      uint64
	descSize    uint64
	inodeSize   uint64
	hasFiletype bool
}

// Open reads and checks the superblock of the file system in r (a
// partition), size bytes long.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	b := make([]byte, 1024)
	if _, err := r.ReadAt(b, superblockOffset); err != nil {
		return nil, fmt.Errorf("%w: read superblock: %v", ErrNotExt4, err)
	}
	sb := parseSuperblock(b)
	if sb.Magic != superMagic {
		return nil, ErrNotExt4
	}
	fs := &FS{r: r, sb: sb, hasFiletype: sb.FeatureIncompat&incompatFiletype != 0}
	if err := fs.check(size); err != nil {
		return nil, err
	}
	return fs, nil
}

// check validates the superblock's geometry against itself and size.
func (fs *FS) check(size int64) error {
	sb := &fs.sb
	if f := sb.FeatureIncompat &^ incompatKnown; f != 0 {
		return fmt.Errorf("%w: incompatible features %#x (compression, journal device or dirdata)", ErrUnsupported, f)
	}
	if sb.LogBlockSize > 6 {
		return fmt.Errorf("%w: block size 1024<<%d", ErrCorrupt, sb.LogBlockSize)
	}
	fs.blockSize = 1024 << sb.LogBlockSize
	fs.blocks = uint64(sb.BlocksCountLo)
	fs.descSize = 32
	if sb.FeatureIncompat&incompat64Bit != 0 {
		fs.blocks |= uint64(sb.BlocksCountHi) << 32
		fs.descSize = uint64(sb.DescSize)
		if fs.descSize < 64 || fs.descSize > 1024 || fs.descSize&(fs.descSize-1) != 0 {
			return fmt.Errorf("%w: group descriptor size %d", ErrCorrupt, fs.descSize)
		}
	}
	fs.inodeSize = uint64(sb.InodeSize)
	switch {
	case fs.inodeSize < 128 || fs.inodeSize > fs.blockSize || fs.inodeSize&(fs.inodeSize-1) != 0:
		return fmt.Errorf("%w: inode size %d", ErrCorrupt, fs.inodeSize)
	case sb.BlocksPerGroup == 0 || sb.InodesPerGroup == 0 || uint64(sb.BlocksPerGroup) > 8*fs.blockSize:
		return fmt.Errorf("%w: %d blocks, %d inodes per group", ErrCorrupt, sb.BlocksPerGroup, sb.InodesPerGroup)
	case uint64(sb.FirstDataBlock) >= fs.blocks:
		return fmt.Errorf("%w: first data block %d of %d", ErrCorrupt, sb.FirstDataBlock, fs.blocks)
	case size >= 0 && fs.blocks > uint64(size)/fs.blockSize:
		return fmt.Errorf("%w: %d blocks of %d bytes do not fit in %d bytes (truncated?)", ErrCorrupt, fs.blocks, fs.blockSize, size)
	}
	fs.groups = (fs.blocks - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
	if uint64(sb.InodesCount) > fs.groups*uint64(sb.InodesPerGroup) {
		return fmt.Errorf("%w: %d inodes in %d groups of %d", ErrCorrupt, sb.InodesCount, fs.groups, sb.InodesPerGroup)
	}
	return nil
}

// Label returns the volume label (s_volume_name), as LABEL= matches it.
func (fs *FS) Label() string {
	n := 0
	for n < len(fs.sb.VolumeName) && fs.sb.VolumeName[n] != 0 {
		n++
	}
	return string(fs.sb.VolumeName[:n])
}

// UUID returns the file system UUID in the lower-case text form that
// root=UUID= and /etc/fstab use.
func (fs *FS) UUID() string {
	u := fs.sb.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// NeedsRecovery reports whether the journal holds transactions not yet
// written back (the guest did not shut down cleanly): files read here may
// then be older than what the guest last wrote.
func (fs *FS) NeedsRecovery() bool { return fs.sb.FeatureIncompat&incompatRecover != 0 }

// BlockSize returns the file system's block size in bytes.
func (fs *FS) BlockSize() int { return int(fs.blockSize) }

// readBlock reads block n, checked against the file system's size.
func (fs *FS) readBlock(n uint64) ([]byte, error) {
	if n >= fs.blocks {
		return nil, fmt.Errorf("%w: block %d beyond the %d-block file system", ErrCorrupt, n, fs.blocks)
	}
	b := make([]byte, fs.blockSize)
	if _, err := fs.r.ReadAt(b, int64(n*fs.blockSize)); err != nil {
		return nil, fmt.Errorf("%w: read block %d: %v", ErrCorrupt, n, err)
	}
	return b, nil
}
