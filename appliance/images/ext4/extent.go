package ext4

import (
	"encoding/binary"
	"fmt"
)

// Extent tree limits (Documentation/filesystems/ext4/dynamic.rst,
// "Extent Tree").
const (
	extentMagic = 0xF30A
	// maxExtentDepth is EXT4_MAX_EXTENT_DEPTH.
	maxExtentDepth = 5
	// maxTreeNodes bounds the tree blocks read for one file, so a
	// hostile tree cannot make a walk expensive.
	maxTreeNodes = 4096
	// uninitLen: an ee_len above it marks an unwritten extent of
	// ee_len - uninitLen blocks.
	uninitLen = 32768
)

// extent maps length file blocks from logical to physical.
type extent struct {
	logical, physical, length uint64
	unwritten                 bool
}

// end returns the first logical block after e.
func (e extent) end() uint64 { return e.logical + e.length }

// extentHeader mirrors struct ext4_extent_header (fs/ext4/ext4_extents.h):
// eh_magic, eh_entries, eh_max, eh_depth, then eh_generation, 12 bytes.
type extentHeader struct {
	magic, entries, max, depth uint16
}

// extentWalk collects one file's extents.
type extentWalk struct {
	fs         *FS
	fileBlocks uint64
	nodes      int
	out        []extent
}

// extents walks the extent tree whose root is the inode's i_block and
// returns the file's extents in logical order.
func (fs *FS) extents(root []byte, fileBlocks uint64) ([]extent, error) {
	w := &extentWalk{fs: fs, fileBlocks: fileBlocks}
	if err := w.node(root, -1); err != nil {
		return nil, err
	}
	return w.out, nil
}

// node reads one tree node b; want is the depth its parent says it has,
// or -1 for the root.
func (w *extentWalk) node(b []byte, want int) error {
	le := binary.LittleEndian
	h := extentHeader{le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint16(b[4:]), le.Uint16(b[6:])}
	switch {
	case h.magic != extentMagic:
		return fmt.Errorf("%w: extent node magic %#x", ErrCorrupt, h.magic)
	case h.depth > maxExtentDepth || want >= 0 && int(h.depth) != want:
		return fmt.Errorf("%w: extent node depth %d (want %d)", ErrCorrupt, h.depth, want)
	case 12+12*int(h.entries) > len(b) || h.entries > h.max:
		return fmt.Errorf("%w: extent node with %d entries (max %d) in %d bytes", ErrCorrupt, h.entries, h.max, len(b))
	}
	for i := range int(h.entries) {
		e := b[12+12*i:]
		if h.depth == 0 {
			if err := w.leaf(e); err != nil {
				return err
			}
			continue
		}
		child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
		if w.nodes++; w.nodes > maxTreeNodes {
			return fmt.Errorf("%w: extent tree larger than %d blocks", ErrCorrupt, maxTreeNodes)
		}
		blk, err := w.fs.readBlock(child)
		if err != nil {
			return err
		}
		if err := w.node(blk, int(h.depth)-1); err != nil {
			return err
		}
	}
	return nil
}

// leaf adds one leaf entry (struct ext4_extent: ee_block, ee_len,
// ee_start_hi, ee_start_lo), which must follow the extents before it.
func (w *extentWalk) leaf(b []byte) error {
	le := binary.LittleEndian
	e := extent{logical: uint64(le.Uint32(b[0:])), length: uint64(le.Uint16(b[4:]))}
	e.physical = uint64(le.Uint16(b[6:]))<<32 | uint64(le.Uint32(b[8:]))
	if e.length > uninitLen {
		e.length -= uninitLen
		e.unwritten = true
	}
	if e.length == 0 {
		return fmt.Errorf("%w: empty extent", ErrCorrupt)
	}
	if n := len(w.out); n > 0 && e.logical < w.out[n-1].end() {
		return fmt.Errorf("%w: extents out of order at logical block %d", ErrCorrupt, e.logical)
	}
	if e.physical+e.length > w.fs.blocks || e.physical < uint64(w.fs.sb.FirstDataBlock) {
		return fmt.Errorf("%w: extent [%d, +%d) outside the %d-block file system", ErrCorrupt, e.physical, e.length, w.fs.blocks)
	}
	if e.logical >= w.fileBlocks {
		// Blocks past i_size (preallocated) are never read.
		return nil
	}
	w.out = append(w.out, e)
	return nil
}

// blockMap maps a file that uses the ext2/ext3 block map: 12 direct
// blocks, then single, double and triple indirect blocks
// (Documentation/filesystems/ext4/blockmap.rst).
func (fs *FS) blockMap(iblock []byte, fileBlocks uint64) ([]extent, error) {
	m := &blockMapper{fs: fs, fileBlocks: fileBlocks}
	le := binary.LittleEndian
	for i := range 12 {
		m.add(uint64(le.Uint32(iblock[4*i:])))
	}
	for level := 1; level <= 3; level++ {
		if err := m.indirect(uint64(le.Uint32(iblock[4*(11+level):])), level); err != nil {
			return nil, err
		}
	}
	return m.out, m.err
}

// blockMapper turns a block map into extents, one logical block at a time.
type blockMapper struct {
	fs         *FS
	fileBlocks uint64
	next       uint64 // next logical block
	nodes      int
	out        []extent
	err        error
}

// add maps the next logical block to physical block p (0: a hole).
func (m *blockMapper) add(p uint64) {
	l := m.next
	m.next++
	if p == 0 || l >= m.fileBlocks || m.err != nil {
		return
	}
	if p >= m.fs.blocks {
		m.err = fmt.Errorf("%w: block %d beyond the %d-block file system", ErrCorrupt, p, m.fs.blocks)
		return
	}
	if n := len(m.out); n > 0 && m.out[n-1].end() == l && m.out[n-1].physical+m.out[n-1].length == p {
		m.out[n-1].length++
		return
	}
	m.out = append(m.out, extent{logical: l, physical: p, length: 1})
}

// indirect maps the blocks an indirect block of the given level covers.
func (m *blockMapper) indirect(blk uint64, level int) error {
	per := m.fs.blockSize / 4
	span := uint64(1)
	for range level {
		span *= per
	}
	if blk == 0 || m.next >= m.fileBlocks {
		m.next += span
		return nil
	}
	if m.nodes++; m.nodes > maxTreeNodes*4 {
		return fmt.Errorf("%w: block map larger than %d blocks", ErrCorrupt, maxTreeNodes*4)
	}
	b, err := m.fs.readBlock(blk)
	if err != nil {
		return err
	}
	for i := range per {
		p := uint64(binary.LittleEndian.Uint32(b[4*i:]))
		if level == 1 {
			m.add(p)
		} else if err := m.indirect(p, level-1); err != nil {
			return err
		}
	}
	return m.err
}
