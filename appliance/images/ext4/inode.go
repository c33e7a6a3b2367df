package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// Inode file types (i_mode & 0xF000) and flags
// (Documentation/filesystems/ext4/inodes.rst).
const (
	modeTypeMask = 0xF000
	modeDir      = 0x4000
	modeRegular  = 0x8000
	modeSymlink  = 0xA000

	flagEncrypt    = 0x800
	flagExtents    = 0x80000
	flagInlineData = 0x10000000
)

// rootInode is the root directory's inode number.
const rootInode = 2

// inode holds the fields of struct ext4_inode this reader uses.
//
// This mirrors struct ext4_inode (fs/ext4/ext4.h), in part: i_mode (0x0),
// i_size_lo (0x4), i_flags (0x20), i_block (0x28, 60 bytes), i_size_high
// (0x6C).
type inode struct {
	num   uint32
	mode  uint16
	size  uint64
	flags uint32
	block [60]byte
}

// isDir, isRegular and isSymlink report the inode's file type.
func (in *inode) isDir() bool     { return in.mode&modeTypeMask == modeDir }
func (in *inode) isRegular() bool { return in.mode&modeTypeMask == modeRegular }
func (in *inode) isSymlink() bool { return in.mode&modeTypeMask == modeSymlink }

// hasSuper reports whether group g holds a superblock backup, which puts
// its meta_bg group descriptor block one block further
// (Documentation/filesystems/ext4/overview.rst, "Meta Block Groups").
func (fs *FS) hasSuper(g uint64) bool {
	switch {
	case g == 0:
		return true
	case fs.sb.FeatureCompat&compatSparseSuper2 != 0:
		return g == uint64(fs.sb.BackupBGs[0]) || g == uint64(fs.sb.BackupBGs[1])
	case g <= 1 || fs.sb.FeatureRoCompat&roCompatSparseSuper == 0:
		return true
	}
	for _, base := range []uint64{3, 5, 7} {
		p := base
		for p < g {
			p *= base
		}
		if p == g {
			return true
		}
	}
	return false
}

// descriptorBlock returns the block holding group g's descriptor, with or
// without meta_bg (the kernel's descriptor_loc in fs/ext4/super.c).
func (fs *FS) descriptorBlock(g uint64) uint64 {
	perBlock := fs.blockSize / fs.descSize
	idx := g / perBlock
	if fs.sb.FeatureIncompat&incompatMetaBG == 0 || idx < uint64(fs.sb.FirstMetaBG) {
		return uint64(fs.sb.FirstDataBlock) + 1 + idx
	}
	first := idx * perBlock
	b := uint64(fs.sb.FirstDataBlock) + first*uint64(fs.sb.BlocksPerGroup)
	if fs.hasSuper(first) {
		b++
	}
	return b
}

// inodeTable returns the first block of group g's inode table, from its
// group descriptor (bg_inode_table_lo at 0x8, _hi at 0x28 in 64-byte
// descriptors; Documentation/filesystems/ext4/group_descr.rst).
func (fs *FS) inodeTable(g uint64) (uint64, error) {
	blk, err := fs.readBlock(fs.descriptorBlock(g))
	if err != nil {
		return 0, err
	}
	d := blk[(g%(fs.blockSize/fs.descSize))*fs.descSize:]
	t := uint64(binary.LittleEndian.Uint32(d[0x8:]))
	if fs.descSize >= 64 {
		t |= uint64(binary.LittleEndian.Uint32(d[0x28:])) << 32
	}
	return t, nil
}

// readInode reads inode n.
func (fs *FS) readInode(n uint32) (*inode, error) {
	if n == 0 || n > fs.sb.InodesCount {
		return nil, fmt.Errorf("%w: inode %d outside [1, %d]", ErrCorrupt, n, fs.sb.InodesCount)
	}
	g := uint64(n-1) / uint64(fs.sb.InodesPerGroup)
	idx := uint64(n-1) % uint64(fs.sb.InodesPerGroup)
	table, err := fs.inodeTable(g)
	if err != nil {
		return nil, err
	}
	off := idx * fs.inodeSize
	blk := table + off/fs.blockSize
	b, err := fs.readBlock(blk)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", n, err)
	}
	raw := b[off%fs.blockSize:][:128]
	le := binary.LittleEndian
	in := &inode{num: n, mode: le.Uint16(raw[0x0:]), flags: le.Uint32(raw[0x20:])}
	in.size = uint64(le.Uint32(raw[0x4:])) | uint64(le.Uint32(raw[0x6C:]))<<32
	copy(in.block[:], raw[0x28:0x28+60])
	return in, nil
}

// File is an open regular file (or directory or slow symlink's data). It
// is an io.ReaderAt of the file's contents; holes and unwritten extents
// read as zeros.
type File struct {
	fs      *FS
	size    int64
	extents []extent
}

// Size returns the file's size in bytes.
func (f *File) Size() int64 { return f.size }

// openData maps in's data blocks.
func (fs *FS) openData(in *inode) (*File, error) {
	switch {
	case in.flags&flagEncrypt != 0:
		return nil, fmt.Errorf("%w: inode %d is encrypted", ErrUnsupported, in.num)
	case in.flags&flagInlineData != 0:
		return nil, fmt.Errorf("%w: inode %d keeps its data inline", ErrUnsupported, in.num)
	case in.size > 1<<48:
		return nil, fmt.Errorf("%w: inode %d has size %d", ErrCorrupt, in.num, in.size)
	}
	fileBlocks := (in.size + fs.blockSize - 1) / fs.blockSize
	var ext []extent
	var err error
	if in.flags&flagExtents != 0 {
		ext, err = fs.extents(in.block[:], fileBlocks)
	} else {
		ext, err = fs.blockMap(in.block[:], fileBlocks)
	}
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.num, err)
	}
	return &File{fs: fs, size: int64(in.size), extents: ext}, nil
}

// ReadAt reads len(p) bytes of the file at off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ext4: negative offset %d", off)
	}
	bs := int64(f.fs.blockSize)
	done := 0
	for done < len(p) && off < f.size {
		want := min(int64(len(p)-done), f.size-off)
		lblk := uint64(off / bs)
		i := sort.Search(len(f.extents), func(i int) bool { return f.extents[i].end() > lblk })
		if i == len(f.extents) || f.extents[i].logical > lblk || f.extents[i].unwritten {
			// A hole: zeros up to the next extent.
			n := want
			if i < len(f.extents) && f.extents[i].logical > lblk {
				n = min(n, int64(f.extents[i].logical)*bs-off)
			} else if i < len(f.extents) {
				n = min(n, int64(f.extents[i].end())*bs-off)
			}
			clear(p[done : done+int(n)])
			done += int(n)
			off += int64(n)
			continue
		}
		e := f.extents[i]
		n := min(want, int64(e.end())*bs-off)
		phys := int64(e.physical+lblk-e.logical)*bs + off%bs
		if _, err := f.fs.r.ReadAt(p[done:done+int(n)], phys); err != nil {
			return done, fmt.Errorf("%w: read data: %v", ErrCorrupt, err)
		}
		done += int(n)
		off += n
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}
