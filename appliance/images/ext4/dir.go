package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Walk limits.
const (
	// maxSymlinkHops is the kernel's MAXSYMLINKS.
	maxSymlinkHops = 40
	// maxSymlinkLen is PATH_MAX.
	maxSymlinkLen = 4096
	// maxDirBytes bounds the directory a lookup scans.
	maxDirBytes = 64 << 20
	// maxWalkSteps bounds the components one walk resolves, symlink
	// targets included.
	maxWalkSteps = 4096
	// fastSymlinkMax: a symlink shorter than i_block keeps its target there.
	fastSymlinkMax = 60
)

// FileType is what a directory entry or path names.
type FileType uint8

// File types, as the directory entry's file_type byte numbers them
// (Documentation/filesystems/ext4/directory.rst).
const (
	TypeUnknown FileType = 0
	TypeRegular FileType = 1
	TypeDir     FileType = 2
	TypeSymlink FileType = 7
	TypeOther   FileType = 255
)

// DirEntry is one name in a directory.
type DirEntry struct {
	Name  string
	Inode uint32
	// Type is from the directory entry when the file system records it
	// (the filetype feature), else TypeUnknown.
	Type FileType
}

// FileInfo describes what a path names, without following a final symlink.
type FileInfo struct {
	Type FileType
	Size int64
	// Path is the path with every symlink before the last component
	// resolved, as Realpath would give for the parent.
	Path string
}

// forEachEntry calls fn for every used entry of directory dir, in on-disk
// order, until fn returns false. An htree directory reads linearly: its
// index blocks look like empty blocks to a linear reader
// (Documentation/filesystems/ext4/directory.rst, "Hash Tree Directories").
func (fs *FS) forEachEntry(dir *inode, fn func(DirEntry) bool) error {
	if dir.size > maxDirBytes {
		return fmt.Errorf("%w: directory inode %d is %d bytes", ErrUnsupported, dir.num, dir.size)
	}
	f, err := fs.openData(dir)
	if err != nil {
		return err
	}
	blk := make([]byte, fs.blockSize)
	for off := int64(0); off < f.size; off += int64(fs.blockSize) {
		if _, err := f.ReadAt(blk, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		more, err := fs.blockEntries(blk, fn)
		if err != nil {
			return fmt.Errorf("directory inode %d: %w", dir.num, err)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// blockEntries calls fn for each used entry of one directory block. Each
// record is struct ext4_dir_entry_2: inode, rec_len, name_len, file_type,
// name; it must fit in the block.
func (fs *FS) blockEntries(b []byte, fn func(DirEntry) bool) (bool, error) {
	le := binary.LittleEndian
	for off := 0; off+8 <= len(b); {
		ino := le.Uint32(b[off:])
		recLen := int(le.Uint16(b[off+4:]))
		if recLen == 0 || recLen == 65535 && len(b) == 65536 {
			recLen = 65536 // ext4_rec_len_from_disk for 64 KiB blocks
		}
		nameLen, ftype := int(b[off+6]), FileType(b[off+7])
		if !fs.hasFiletype {
			nameLen, ftype = int(le.Uint16(b[off+6:])), TypeUnknown
		}
		if recLen < 8 || recLen%4 != 0 || off+recLen > len(b) || 8+nameLen > recLen {
			return false, fmt.Errorf("%w: directory record at %d (rec_len %d, name_len %d)", ErrCorrupt, off, recLen, nameLen)
		}
		if ino != 0 && nameLen > 0 {
			if !fn(DirEntry{Name: string(b[off+8 : off+8+nameLen]), Inode: ino, Type: ftype}) {
				return false, nil
			}
		}
		off += recLen
	}
	return true, nil
}

// lookupIn returns the inode number of name in directory dir.
func (fs *FS) lookupIn(dir *inode, name string) (uint32, error) {
	var found uint32
	err := fs.forEachEntry(dir, func(e DirEntry) bool {
		if e.Name == name {
			found = e.Inode
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if found == 0 {
		return 0, ErrNotExist
	}
	return found, nil
}

// readlink returns symlink in's target: in i_block for a fast symlink,
// else in its first data block(s).
func (fs *FS) readlink(in *inode) (string, error) {
	if in.size > maxSymlinkLen || in.size == 0 {
		return "", fmt.Errorf("%w: symlink inode %d of %d bytes", ErrCorrupt, in.num, in.size)
	}
	if in.size < fastSymlinkMax && in.flags&flagExtents == 0 {
		// A fast symlink; an inline-data one keeps its target there too.
		return string(in.block[:in.size]), nil
	}
	f, err := fs.openData(in)
	if err != nil {
		return "", err
	}
	b := make([]byte, in.size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return "", err
	}
	return string(b), nil
}

// walk resolves name from the root. Symlinks in the middle are always
// followed, and the last one too when followLast is set; absolute targets
// restart at this file system's root, and ".." at the root stays there. It
// returns the inode and the resolved path.
func (fs *FS) walk(name string, followLast bool) (*inode, string, error) {
	root, err := fs.readInode(rootInode)
	if err != nil {
		return nil, "", err
	}
	stack := []*inode{root}
	names := []string{}
	comps := strings.Split(name, "/")
	hops, steps := 0, 0
	for len(comps) > 0 {
		if steps++; steps > maxWalkSteps {
			return nil, "", fmt.Errorf("%w: %s: path too long", ErrCorrupt, name)
		}
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(names) > 0 {
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			return nil, "", fmt.Errorf("%w: /%s is not a directory", ErrNotExist, strings.Join(names, "/"))
		}
		n, err := fs.lookupIn(cur, c)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path.Join("/", strings.Join(names, "/"), c), err)
		}
		child, err := fs.readInode(n)
		if err != nil {
			return nil, "", err
		}
		if child.isSymlink() && (len(comps) > 0 || followLast) {
			if hops++; hops > maxSymlinkHops {
				return nil, "", fmt.Errorf("%w: %s: too many levels of symbolic links", ErrCorrupt, name)
			}
			target, err := fs.readlink(child)
			if err != nil {
				return nil, "", err
			}
			if strings.HasPrefix(target, "/") {
				stack, names = stack[:1], names[:0]
			}
			comps = append(strings.Split(target, "/"), comps...)
			continue
		}
		stack, names = append(stack, child), append(names, c)
	}
	return stack[len(stack)-1], "/" + strings.Join(names, "/"), nil
}

// Open opens the regular file name, following symlinks.
func (fs *FS) Open(name string) (*File, error) {
	in, p, err := fs.walk(name, true)
	if err != nil {
		return nil, err
	}
	if !in.isRegular() {
		return nil, fmt.Errorf("ext4: %s is not a regular file (mode %#o)", p, in.mode)
	}
	return fs.openData(in)
}

// ReadFile returns the contents of the regular file name, following
// symlinks, or ErrTooBig when it is larger than max bytes.
func (fs *FS) ReadFile(name string, max int64) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	if f.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrTooBig, name, f.Size(), max)
	}
	b := make([]byte, f.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// Realpath returns name with every symlink resolved.
func (fs *FS) Realpath(name string) (string, error) {
	_, p, err := fs.walk(name, true)
	return p, err
}

// Lstat describes name without following a final symlink.
func (fs *FS) Lstat(name string) (FileInfo, error) {
	in, p, err := fs.walk(name, false)
	if err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{Size: int64(in.size), Path: p, Type: TypeOther}
	switch {
	case in.isRegular():
		fi.Type = TypeRegular
	case in.isDir():
		fi.Type = TypeDir
	case in.isSymlink():
		fi.Type = TypeSymlink
	}
	return fi, nil
}

// Readlink returns the target of the symlink name.
func (fs *FS) Readlink(name string) (string, error) {
	in, p, err := fs.walk(name, false)
	if err != nil {
		return "", err
	}
	if !in.isSymlink() {
		return "", fmt.Errorf("ext4: %s is not a symlink", p)
	}
	return fs.readlink(in)
}

// ReadDir lists directory name (following symlinks), without "." and "..".
func (fs *FS) ReadDir(name string) ([]DirEntry, error) {
	in, p, err := fs.walk(name, true)
	if err != nil {
		return nil, err
	}
	if !in.isDir() {
		return nil, fmt.Errorf("ext4: %s is not a directory", p)
	}
	var out []DirEntry
	err = fs.forEachEntry(in, func(e DirEntry) bool {
		if e.Name != "." && e.Name != ".." {
			out = append(out, e)
		}
		return true
	})
	return out, err
}
