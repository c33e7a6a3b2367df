package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ironvisor/ironvisor/appliance/durable"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
	"github.com/ironvisor/ironvisor/appliance/images/qcow2"
)

// Disk formats an image may be uploaded or imported in (Source.Format).
const (
	FormatRaw   = "raw"
	FormatQcow2 = "qcow2"
)

// Phases of a disk image's commit, as Progress reports them.
const (
	PhaseConvert = "convert" // qcow2 to sparse raw
	PhaseInspect = "inspect" // reading the kernel, initrd and root
)

// Progress reports how far a phase has come: done of total bytes.
type Progress func(phase string, done, total int64)

// Source describes the cloud disk image an image was made from, as the
// user gave it: its format, size and digest match what the distribution
// publishes, whereas Image.Disk describes the raw disk stored.
type Source struct {
	Format string `json:"format"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url,omitempty"`
}

// Boot is what the image's own disk boots, as package bootsel read it.
type Boot struct {
	KernelPath    string `json:"kernel_path"`
	InitrdPath    string `json:"initrd_path,omitempty"`
	Root          string `json:"root"`
	RootPartition int    `json:"root_partition"`
}

// partRaw is the temporary name of a qcow2 disk being converted.
const partRaw = "disk.raw"

// notDisk names formats a cloud disk image is often confused with, by
// their magic at offset 0, so the refusal says what to do.
var notDisk = []struct {
	magic []byte
	what  string
}{
	{[]byte{0xFD, '7', 'z', 'X', 'Z', 0}, "an xz archive: decompress it first"},
	{[]byte{0x1F, 0x8B}, "a gzip archive: decompress it first"},
	{[]byte{0x28, 0xB5, 0x2F, 0xFD}, "a zstd archive: decompress it first"},
	{[]byte("BZh"), "a bzip2 archive: decompress it first"},
	{[]byte("KDMV"), "a VMDK image: convert it to qcow2 or raw"},
	{[]byte("vhdxfile"), "a VHDX image: convert it to qcow2 or raw"},
}

// commitDisk makes the image from the uploaded disk alone: a qcow2 is
// converted to a sparse raw file, then bootsel reads the kernel, the
// initrd and the root from the disk, and they become the image's kernel,
// initrd and command line (cmdline, if set, follows root=... instead of
// bootsel.DefaultCmdline). Every refusal wraps ErrInvalid.
func (u *Upload) commitDisk(ctx context.Context, name, cmdline string, progress Progress) (Image, error) {
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	up := u.files[PartDisk]
	src := &Source{Format: FormatRaw, Size: up.Size, SHA256: up.SHA256, URL: u.url}
	format, err := sniff(filepath.Join(u.tmp, PartDisk))
	if err != nil {
		return Image{}, err
	}
	disk := up
	if format == FormatQcow2 {
		src.Format = FormatQcow2
		if disk, err = u.convert(ctx, progress); err != nil {
			return Image{}, err
		}
	}
	progress(PhaseInspect, 0, disk.Size)
	boot, cmd, err := u.extractBoot(ctx, disk.Size, cmdline)
	if err != nil {
		return Image{}, err
	}
	progress(PhaseInspect, disk.Size, disk.Size)
	u.files[PartDisk] = disk
	return u.finish(name, cmd, func(img *Image) {
		img.Source, img.Boot = src, boot
	})
}

// convertBesideKernel converts the disk part of an upload that has its
// own kernel to raw when it is a qcow2, since the VMM serves raw disks,
// and returns the source to record (nil for a raw disk or none).
func (u *Upload) convertBesideKernel(ctx context.Context, progress Progress) (*Source, error) {
	up, ok := u.files[PartDisk]
	if !ok {
		return nil, nil
	}
	format, err := sniff(filepath.Join(u.tmp, PartDisk))
	if err != nil || format != FormatQcow2 {
		return nil, err
	}
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	raw, err := u.convert(ctx, progress)
	if err != nil {
		return nil, err
	}
	u.files[PartDisk] = raw
	return &Source{Format: FormatQcow2, Size: up.Size, SHA256: up.SHA256, URL: u.url}, nil
}

// sniff returns the format of the disk file at path from its first bytes.
func sniff(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open disk: %w", err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read disk: %w", err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte{'Q', 'F', 'I', 0xFB}) {
		return FormatQcow2, nil
	}
	for _, k := range notDisk {
		if bytes.HasPrefix(head, k.magic) {
			return "", fmt.Errorf("%w: the disk is %s", ErrInvalid, k.what)
		}
	}
	return FormatRaw, nil
}

// convert writes the uploaded qcow2 disk as a sparse raw file, replaces
// the upload with it and returns the raw file's description.
func (u *Upload) convert(ctx context.Context, progress Progress) (File, error) {
	in, err := os.Open(filepath.Join(u.tmp, PartDisk))
	if err != nil {
		return File{}, fmt.Errorf("open disk: %w", err)
	}
	defer in.Close()
	img, err := qcow2.Open(in, u.files[PartDisk].Size)
	if err != nil {
		return File{}, qcow2Error(err)
	}
	size := img.Size()
	if size <= 0 || size > MaxDisk {
		return File{}, fmt.Errorf("%w: qcow2 virtual size %d not in 1..%d bytes", ErrInvalid, size, int64(MaxDisk))
	}
	rawPath := filepath.Join(u.tmp, partRaw)
	out, err := os.OpenFile(rawPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("create raw disk: %w", err)
	}
	hw := &hashWriter{f: out, h: sha256.New()}
	err = img.WriteRaw(ctx, hw, func(done, total int64) { progress(PhaseConvert, done, total) })
	if err == nil {
		err = hw.finish(size)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, qcow2Error(err)
	}
	if err := durable.Rename(rawPath, filepath.Join(u.tmp, PartDisk)); err != nil {
		return File{}, fmt.Errorf("move raw disk: %w", err)
	}
	return File{Size: size, SHA256: hex.EncodeToString(hw.h.Sum(nil))}, nil
}

// qcow2Error turns a refusal of package qcow2 into ErrInvalid, and leaves
// other errors (the host's disk, a cancelled import) as they are.
func qcow2Error(err error) error {
	switch {
	case errors.Is(err, qcow2.ErrUnsupported):
		return fmt.Errorf("%w: %v (an image with a backing file must be flattened first: qemu-img convert -O qcow2)", ErrInvalid, err)
	case errors.Is(err, qcow2.ErrCorrupt), errors.Is(err, qcow2.ErrNotQcow2):
		return fmt.Errorf("%w: %v (truncated or damaged qcow2)", ErrInvalid, err)
	}
	return fmt.Errorf("convert qcow2: %w", err)
}

// extractBoot reads the raw disk of the upload with bootsel, in the
// jailed child of package bootjail, and stores the kernel and initrd it
// finds as the upload's parts.
func (u *Upload) extractBoot(ctx context.Context, size int64, cmdline string) (*Boot, string, error) {
	f, err := os.Open(filepath.Join(u.tmp, PartDisk))
	if err != nil {
		return nil, "", fmt.Errorf("open disk: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, "", fmt.Errorf("open disk: %w", err)
	} else if fi.Size() != size {
		return nil, "", fmt.Errorf("open disk: %d bytes, want %d", fi.Size(), size)
	}
	kernel, initrd := newTempOut(filepath.Join(u.tmp, "boot-"+PartKernel)), newTempOut(filepath.Join(u.tmp, "boot-"+PartInitrd))
	defer kernel.discard()
	defer initrd.discard()
	q := bootjail.Request{Cmdline: cmdline, MaxKernel: MaxKernel, MaxInitrd: MaxInitrd}
	b, err := u.s.jail.Read(ctx, f, q, kernel, initrd)
	if err != nil {
		return nil, "", bootError("the disk cannot be booted", err)
	}
	if err := u.addBootFile(PartKernel, kernel); err != nil {
		return nil, "", fmt.Errorf("%w: read kernel %s: %v", ErrInvalid, b.KernelPath, err)
	}
	if b.InitrdPath != "" {
		if err := u.addBootFile(PartInitrd, initrd); err != nil {
			return nil, "", fmt.Errorf("%w: read initrd %s: %v", ErrInvalid, b.InitrdPath, err)
		}
	}
	if len(b.Cmdline) > MaxCmdline {
		return nil, "", fmt.Errorf("%w: cmdline longer than %d bytes", ErrInvalid, MaxCmdline)
	}
	return &Boot{KernelPath: b.KernelPath, InitrdPath: b.InitrdPath, Root: b.Root, RootPartition: b.RootPartition}, b.Cmdline, nil
}

// addBootFile stores what the boot reader wrote to t as part.
func (u *Upload) addBootFile(part string, t *tempOut) error {
	if err := t.commit(); err != nil {
		return err
	}
	defer os.Remove(t.path)
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return u.addFile(part, f)
}

// hashWriter is the raw file WriteRaw writes, hashed as it is written:
// WriteRaw writes clusters in increasing order and skips zero ones, so
// the gaps are hashed as zeros.
type hashWriter struct {
	f   *os.File
	h   hash.Hash
	pos int64
}

// zeroBlock is hashed for the holes.
var zeroBlock = make([]byte, 64<<10)

// WriteAt writes p at off, which must not be before the last write's end.
func (w *hashWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < w.pos {
		return 0, fmt.Errorf("raw disk: write at %d before %d", off, w.pos)
	}
	w.zeros(off - w.pos)
	n, err := w.f.WriteAt(p, off)
	w.h.Write(p[:n])
	w.pos = off + int64(n)
	return n, err
}

// Truncate sizes the file.
func (w *hashWriter) Truncate(size int64) error { return w.f.Truncate(size) }

// zeros hashes n zero bytes.
func (w *hashWriter) zeros(n int64) {
	for n > 0 {
		k := min(n, int64(len(zeroBlock)))
		w.h.Write(zeroBlock[:k])
		n -= k
	}
}

// finish hashes the zeros after the last write up to size.
func (w *hashWriter) finish(size int64) error {
	if w.pos > size {
		return fmt.Errorf("raw disk: wrote past its size %d", size)
	}
	w.zeros(size - w.pos)
	w.pos = size
	return nil
}
