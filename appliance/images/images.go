// Package images keeps the boot images instances are launched from: a
// kernel, an optional initrd, an optional root disk and a default command
// line, each file stored under DATA/images/<id>/ with its SHA-256.
//
// Every upload is hostile. The kernel must parse as a bzImage (kernel
// Documentation/arch/x86/boot.rst, checked by vmm/boot.ParseSetupHeader) or
// load as a PVH ELF (vmm/boot.LoadPVH into scratch memory); sizes are
// bounded; a refused upload leaves no file and no record behind. Files are
// written to a temporary directory first and renamed into place only after
// every check has passed, then the record is committed.
package images

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/durable"
	"github.com/ironvisor/ironvisor/appliance/images/bootjail"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Size limits of the parts of an image.
const (
	MaxKernel  = 256 << 20
	MaxInitrd  = 1 << 30
	MaxDisk    = 64 << 30
	MaxCmdline = 2048
)

// Part names, as in the multipart upload.
const (
	PartKernel = "kernel"
	PartInitrd = "initrd"
	PartDisk   = "disk"
)

// ErrInvalid is wrapped by every refusal of an upload.
var ErrInvalid = apiv1.NewError(apiv1.InvalidParameter, "invalid image")

// ErrNotFound is wrapped when an image does not exist.
var ErrNotFound = apiv1.NewError(apiv1.NotFound, "image not found")

// ErrExists is wrapped when an image name is taken.
var ErrExists = apiv1.NewError(apiv1.AlreadyExists, "image already exists")

// File describes one stored file of an image.
type File struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Image is the stored record of one image.
type Image struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	KernelFormat string    `json:"kernel_format"` // "bzimage" or "pvh"
	Kernel       File      `json:"kernel"`
	Initrd       *File     `json:"initrd,omitempty"`
	Disk         *File     `json:"disk,omitempty"`
	Cmdline      string    `json:"cmdline,omitempty"`
	Created      time.Time `json:"created"`
	// Source is the cloud disk image the image was made from, and Boot
	// what bootsel found on it; both nil for an image uploaded as a
	// kernel (and initrd and disk).
	Source *Source `json:"source,omitempty"`
	Boot   *Boot   `json:"boot,omitempty"`
}

// Store is the image registry: records in the store, files under dir.
type Store struct {
	db  *store.DB
	dir string
	now func() time.Time
	imp *importer
	// jail runs bootsel on a disk (bootjail): every disk is read there.
	jail bootjail.Config
}

// New returns the image store over db with files under dataDir/images.
func New(db *store.DB, dataDir string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Join(dataDir, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create image directory: %w", err)
	}
	s := &Store{db: db, dir: dir, now: now, imp: newImporter(),
		jail: bootjail.Config{StateDir: filepath.Join(dataDir, "bootjail")}}
	if err := s.cleanTemp(); err != nil {
		return nil, err
	}
	if err := s.jail.CleanLeftovers(); err != nil {
		return nil, fmt.Errorf("remove the boot readers a crash left: %w", err)
	}
	return s, s.cleanOrphans()
}

// SetBootJail sets how the jailed boot reader runs (its uid, cgroup,
// timeout, and on PID 1 the reaper's Starter); an empty StateDir keeps
// dataDir/bootjail. Call it before the store is used.
func (s *Store) SetBootJail(c bootjail.Config) {
	if c.StateDir == "" {
		c.StateDir = s.jail.StateDir
	}
	s.jail = c
}

// cleanTemp removes uploads a crash interrupted.
func (s *Store) cleanTemp() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read image directory: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".upload-") {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				return fmt.Errorf("remove interrupted upload: %w", err)
			}
		}
	}
	return nil
}

// Path returns the file of part (kernel, initrd, disk) of image id.
func (s *Store) Path(id, part string) string { return filepath.Join(s.dir, id, part) }

// Get returns the image whose ID or name is ref.
func (s *Store) Get(ref string) (Image, error) {
	if img, err := store.GetOne[Image](s.db, store.Images, ref); err == nil {
		return img, nil
	}
	all, err := s.List()
	if err != nil {
		return Image{}, err
	}
	for _, img := range all {
		if img.Name == ref {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("%w: %q", ErrNotFound, ref)
}

// List returns every image, by ID.
func (s *Store) List() ([]Image, error) {
	return store.ListAll[Image](s.db, store.Images, "")
}

// Delete removes image id, record first, then its files. A crash
// between the two leaves a directory without a record, which New
// removes.
func (s *Store) Delete(id string) error {
	if err := s.db.DeleteOne(store.Images, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil {
		return err
	}
	return durable.SyncDir(s.dir)
}

// Upload is one image being received. Add parts with Add, then Commit, or
// Abort to remove everything written so far. Abort after Commit does
// nothing, so callers can always defer it.
type Upload struct {
	s       *Store
	id, tmp string
	files   map[string]File
	// sha512 holds the disk part's SHA-512, for CheckDigest.
	sha512    string
	url       string // where an import fetched the disk
	committed bool
}

// Begin starts an upload in a fresh temporary directory.
func (s *Store) Begin() (*Upload, error) {
	id, err := store.NewID("img-")
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.dir, ".upload-"+id)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	return &Upload{s: s, id: id, tmp: tmp, files: map[string]File{}}, nil
}

// limits maps each part to its size limit.
var limits = map[string]int64{PartKernel: MaxKernel, PartInitrd: MaxInitrd, PartDisk: MaxDisk}

// Add stores part from r, hashing it and enforcing its size limit.
func (u *Upload) Add(part string, r io.Reader) error {
	if _, ok := limits[part]; !ok {
		return fmt.Errorf("%w: unknown part %q", ErrInvalid, part)
	}
	return u.addFile(part, r)
}

// addFile stores part from r (see Add); the disk part's SHA-512 is kept
// for CheckDigest.
func (u *Upload) addFile(part string, r io.Reader) error {
	max := limits[part]
	if _, dup := u.files[part]; dup {
		return fmt.Errorf("%w: part %q given twice", ErrInvalid, part)
	}
	f, err := os.OpenFile(filepath.Join(u.tmp, part), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", part, err)
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	var h512 hash.Hash
	if part == PartDisk {
		h512 = sha512.New()
		w = io.MultiWriter(f, h, h512)
	}
	n, err := io.Copy(w, io.LimitReader(r, max+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", part, err)
	}
	if n > max {
		return fmt.Errorf("%w: %s larger than %d bytes", ErrInvalid, part, max)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, part)
	}
	u.files[part] = File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if h512 != nil {
		u.sha512 = hex.EncodeToString(h512.Sum(nil))
	}
	return nil
}

// CheckDigest checks the disk part against the digest the user gave, in
// hex: sha256 or sha512 (empty strings are not checked). A mismatch wraps
// ErrInvalid.
func (u *Upload) CheckDigest(sha256Hex, sha512Hex string) error {
	d, ok := u.files[PartDisk]
	if !ok && (sha256Hex != "" || sha512Hex != "") {
		return fmt.Errorf("%w: a checksum was given but no disk", ErrInvalid)
	}
	if sha256Hex != "" && !strings.EqualFold(sha256Hex, d.SHA256) {
		return fmt.Errorf("%w: sha256 mismatch: the disk's is %s, want %s", ErrInvalid, d.SHA256, sha256Hex)
	}
	if sha512Hex != "" && !strings.EqualFold(sha512Hex, u.sha512) {
		return fmt.Errorf("%w: sha512 mismatch: the disk's is %s, want %s", ErrInvalid, u.sha512, sha512Hex)
	}
	return nil
}

// CheckName refuses a name that is invalid or taken, so that an import
// fails before it downloads anything.
func (s *Store) CheckName(name string) error {
	if err := auth.ValidateName(name); err != nil {
		return fmt.Errorf("%w: name: %v", ErrInvalid, err)
	}
	if _, err := s.Get(name); err == nil {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	return nil
}

// Commit checks the parts, moves them into place and stores the record.
// An upload of a disk alone is a cloud disk image: see CommitDisk.
func (u *Upload) Commit(name, cmdline string) (Image, error) {
	return u.CommitDisk(context.Background(), name, cmdline, nil)
}

// CommitDisk is Commit with a context and progress reports for the long
// part of a disk-only upload: qcow2 is converted to a sparse raw file,
// and the kernel, initrd and root are read from the disk itself (package
// bootsel). An upload with a kernel part is committed as it is.
func (u *Upload) CommitDisk(ctx context.Context, name, cmdline string, progress Progress) (Image, error) {
	if err := auth.ValidateName(name); err != nil {
		return Image{}, fmt.Errorf("%w: name: %v", ErrInvalid, err)
	}
	if len(cmdline) > MaxCmdline || strings.ContainsAny(cmdline, "\x00\n\r") {
		return Image{}, fmt.Errorf("%w: cmdline longer than %d bytes or with NUL or newline", ErrInvalid, MaxCmdline)
	}
	if _, ok := u.files[PartKernel]; !ok {
		if _, disk := u.files[PartDisk]; disk {
			if _, initrd := u.files[PartInitrd]; initrd {
				return Image{}, fmt.Errorf("%w: an initrd without a kernel: give both, or the disk alone", ErrInvalid)
			}
			return u.commitDisk(ctx, name, cmdline, progress)
		}
		return Image{}, fmt.Errorf("%w: the kernel part is required (or a cloud disk image alone)", ErrInvalid)
	}
	src, err := u.convertBesideKernel(ctx, progress)
	if err != nil {
		return Image{}, err
	}
	return u.finish(name, cmdline, func(img *Image) { img.Source = src })
}

// finish checks the kernel, moves the parts into place and stores the
// record, after extra (if set) completed it.
func (u *Upload) finish(name, cmdline string, extra func(*Image)) (Image, error) {
	k := u.files[PartKernel]
	format, err := CheckKernelFile(filepath.Join(u.tmp, PartKernel))
	if err != nil {
		return Image{}, err
	}
	img := Image{ID: u.id, Name: name, KernelFormat: format, Kernel: k, Cmdline: cmdline, Created: u.s.now().UTC()}
	if f, ok := u.files[PartInitrd]; ok {
		img.Initrd = &f
	}
	if f, ok := u.files[PartDisk]; ok {
		img.Disk = &f
	}
	if extra != nil {
		extra(&img)
	}
	final := filepath.Join(u.s.dir, u.id)
	if err := durable.Rename(u.tmp, final); err != nil {
		return Image{}, fmt.Errorf("move image into place: %w", err)
	}
	err = u.s.create(img)
	if err != nil {
		os.RemoveAll(final)
		return Image{}, err
	}
	u.committed = true
	return img, nil
}

// create stores img unless its name is taken, in one transaction.
func (s *Store) create(img Image) error {
	return s.db.Update(func(tx *store.Tx) error {
		all, err := store.List[Image](tx, store.Images, "")
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Name == img.Name {
				return fmt.Errorf("%w: %q", ErrExists, img.Name)
			}
		}
		return tx.Create(store.Images, img.ID, img)
	})
}

// Abort removes the temporary files unless the upload was committed.
func (u *Upload) Abort() {
	if !u.committed {
		os.RemoveAll(u.tmp)
	}
}
