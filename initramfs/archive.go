// Package initramfs builds reproducible Linux initramfs archives.
//
// An archive is a list of entries (files, directories, symlinks, device
// nodes) written in the "newc" cpio format of the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst, using u-root's
// pkg/cpio. Every record goes through cpio.MakeReproducible and the records
// are written in sorted path order, so identical inputs give a
// byte-identical archive.
//
// The same Builder makes the appliance image (see Appliance) and extra
// overlay archives for tests: the kernel unpacks concatenated archives in
// order, and a later entry replaces an earlier one with the same path.
package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// Kind says what an Entry is.
type Kind int

// The kinds of entries an archive holds.
const (
	KindFile Kind = iota
	KindDir
	KindSymlink
	KindCharDev
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	case KindCharDev:
		return "chardev"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one path in an archive.
type Entry struct {
	// Path is the absolute path inside the archive, e.g. "/bin/sh".
	Path string
	// Kind says which of the fields below matter.
	Kind Kind
	// Perm holds the Unix permission bits, including setuid, setgid and
	// sticky (0o755, 0o1777); zero means 0o644 for files, 0o755 for
	// directories and 0o600 for device nodes. Symlinks are always 0o777.
	Perm uint32
	// Data is a file's contents when Source is empty.
	Data []byte
	// Source, when set, is a host file whose contents are read at write
	// time instead of Data.
	Source string
	// Target is a symlink's target.
	Target string
	// Major and Minor are a device node's numbers.
	Major, Minor uint64
}

// File returns a regular file entry holding data.
func File(p string, perm uint32, data []byte) Entry {
	return Entry{Path: p, Kind: KindFile, Perm: perm, Data: data}
}

// HostFile returns a regular file entry whose contents come from the host
// file src when the archive is written.
func HostFile(p string, perm uint32, src string) Entry {
	return Entry{Path: p, Kind: KindFile, Perm: perm, Source: src}
}

// Dir returns a directory entry.
func Dir(p string, perm uint32) Entry {
	return Entry{Path: p, Kind: KindDir, Perm: perm}
}

// Symlink returns a symbolic link at p pointing to target.
func Symlink(p, target string) Entry {
	return Entry{Path: p, Kind: KindSymlink, Perm: 0o777, Target: target}
}

// CharDev returns a character device node.
func CharDev(p string, perm uint32, major, minor uint64) Entry {
	return Entry{Path: p, Kind: KindCharDev, Perm: perm, Major: major, Minor: minor}
}

// Console returns the /dev/console node (5:1) that the kernel opens for
// init's stdin, stdout and stderr before any devtmpfs is mounted.
func Console() Entry {
	return CharDev("/dev/console", 0o600, 5, 1)
}

// Compression selects how an archive is compressed.
type Compression int

const (
	// Gzip compresses with gzip at the best level, with a fixed header (no
	// name, no modification time). It is the zero value.
	Gzip Compression = iota
	// None writes the plain cpio archive.
	None
)

// Builder collects entries and writes them as one archive. The zero value
// is not usable; call New.
type Builder struct {
	entries map[string]Entry
}

// New returns an empty Builder.
func New() *Builder {
	return &Builder{entries: make(map[string]Entry)}
}

// Add adds entries, replacing any earlier entry with the same path. Parent
// directories are created implicitly (mode 0755) when the archive is
// written. Paths must be absolute and clean.
func (b *Builder) Add(entries ...Entry) error {
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return fmt.Errorf("initramfs entry %q: path must be absolute and clean", e.Path)
		}
		b.entries[e.Path] = e
	}
	return nil
}

// Entries returns the entries in archive order, with implicit parent
// directories filled in.
func (b *Builder) Entries() []Entry {
	all := make(map[string]Entry, len(b.entries))
	for p, e := range b.entries {
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := b.entries[d]; !ok {
				all[d] = Dir(d, 0o755)
			}
		}
	}
	out := make([]Entry, 0, len(all))
	for _, e := range all {
		out = append(out, e)
	}
	// Plain byte order of the path sorts every directory before its
	// contents, since "/a" < "/a/..." always holds.
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Write writes the archive to w.
func (b *Builder) Write(w io.Writer, c Compression) error {
	switch c {
	case None:
		return b.writeCPIO(w)
	case Gzip:
		zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return fmt.Errorf("gzip writer: %w", err)
		}
		if err := b.writeCPIO(zw); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("gzip close: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown compression %d", c)
}

// WriteFile writes the archive to the file name, atomically (through a
// temporary file in the same folder), and returns its size in bytes.
func (b *Builder) WriteFile(name string, c Compression) (int64, error) {
	tmp, err := os.CreateTemp(path.Dir(name), ".initramfs-*")
	if err != nil {
		return 0, fmt.Errorf("create temp for %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := b.Write(tmp, c); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	st, err := tmp.Stat()
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("chmod %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return 0, fmt.Errorf("rename to %s: %w", name, err)
	}
	return st.Size(), nil
}

// writeCPIO writes the uncompressed newc archive.
func (b *Builder) writeCPIO(w io.Writer) error {
	rw := cpio.Newc.Writer(w)
	for i, e := range b.Entries() {
		rec, closer, err := e.record()
		if err != nil {
			return err
		}
		rec.Ino = uint64(i + 1)
		err = rw.WriteRecord(cpio.MakeReproducible(rec))
		if closer != nil {
			closer.Close()
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", e.Path, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("write trailer: %w", err)
	}
	return nil
}

// record converts e into a cpio record. The closer, if not nil, must be
// closed once the record has been written.
func (e Entry) record() (cpio.Record, io.Closer, error) {
	name := strings.TrimPrefix(e.Path, "/")
	perm := uint64(e.Perm & 0o7777)
	switch e.Kind {
	case KindDir:
		return cpio.Directory(name, orDefault(perm, 0o755)), nil, nil
	case KindSymlink:
		return cpio.Symlink(name, e.Target), nil, nil
	case KindCharDev:
		return cpio.CharDev(name, orDefault(perm, 0o600), e.Major, e.Minor), nil, nil
	case KindFile:
		info := cpio.Info{Name: name, Mode: cpio.S_IFREG | orDefault(perm, 0o644), NLink: 1}
		if e.Source == "" {
			return cpio.StaticRecord(e.Data, info), nil, nil
		}
		f, err := os.Open(e.Source)
		if err != nil {
			return cpio.Record{}, nil, fmt.Errorf("entry %s: %w", e.Path, err)
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			return cpio.Record{}, nil, fmt.Errorf("entry %s: %s is not a readable regular file", e.Path, e.Source)
		}
		info.FileSize = uint64(st.Size())
		return cpio.Record{ReaderAt: f, Info: info}, f, nil
	}
	return cpio.Record{}, nil, fmt.Errorf("entry %s: unknown kind %v", e.Path, e.Kind)
}

// orDefault returns perm, or def when perm is zero.
func orDefault(perm, def uint64) uint64 {
	if perm == 0 {
		return def
	}
	return perm
}

// gzipMagic starts every gzip stream (RFC 1952 section 2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// Read parses an archive (plain or gzip-compressed newc cpio) and returns
// its entries in archive order. File contents are loaded into Data.
// Read stops at the first trailer, so of concatenated archives it returns
// the first.
func Read(r io.Reader) ([]Entry, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	if bytes.HasPrefix(raw, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	// The newc magic, from the kernel's buffer-format.rst.
	if !bytes.HasPrefix(raw, []byte("070701")) {
		return nil, fmt.Errorf("parse cpio: not a newc archive")
	}
	// The reader stops at the trailer record.
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("parse cpio: %w", err)
	}
	out := make([]Entry, 0, len(recs))
	for _, rec := range recs {
		e, err := entryFromRecord(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// entryFromRecord converts a parsed cpio record back into an Entry.
func entryFromRecord(rec cpio.Record) (Entry, error) {
	e := Entry{Path: "/" + cpio.Normalize(rec.Name), Perm: uint32(rec.Mode & 0o7777)}
	var data []byte
	if rec.ReaderAt != nil && rec.FileSize > 0 {
		data = make([]byte, rec.FileSize)
		if _, err := rec.ReadAt(data, 0); err != nil && err != io.EOF {
			return Entry{}, fmt.Errorf("read %s: %w", rec.Name, err)
		}
	}
	switch rec.Mode & cpio.S_IFMT {
	case cpio.S_IFREG:
		e.Kind, e.Data = KindFile, data
	case cpio.S_IFDIR:
		e.Kind = KindDir
	case cpio.S_IFLNK:
		e.Kind, e.Target = KindSymlink, string(data)
	case cpio.S_IFCHR:
		e.Kind, e.Major, e.Minor = KindCharDev, rec.Rmajor, rec.Rminor
	default:
		return Entry{}, fmt.Errorf("entry %s: unsupported mode %#o", rec.Name, rec.Mode)
	}
	return e, nil
}
