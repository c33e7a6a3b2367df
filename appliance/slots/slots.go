// Package slots keeps the appliance's two boot slots on the EFI system
// partition: unified kernel images (UKIs) in /EFI/Linux that systemd-boot
// lists as Boot Loader Specification type #2 entries, with its boot
// counting (systemd.io/AUTOMATIC_BOOT_ASSESSMENT).
//
// A slot's file is named ironvisor-GEN-SLOT[+LEFT[-DONE]].efi: SLOT is a
// or b, GEN a generation that grows with every install. systemd-boot sorts
// entries with no tries left to the end and the others by ID, newest
// (highest GEN) first, and boots the first; each boot of a counting entry
// renames it with one try less and one more done. A new image goes into
// the slot that did not boot, with tries left (+3); once the new boot is
// healthy it is blessed: renamed without the counter. If it never is, its
// tries run out and systemd-boot boots the other slot again: a rollback.
//
// The package works on a mounted ESP folder and on the strings of
// systemd-boot's EFI variables; mounting is the caller's job.
package slots

import (
	"bytes"
	"crypto/sha256"
	"debug/pe"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/durable"
)

// Dir is where systemd-boot looks for UKIs, relative to the ESP's root.
const Dir = "EFI/Linux"

// Prefix starts every slot file's name.
const Prefix = "ironvisor-"

// Names of the two slots.
const (
	A = "a"
	B = "b"
)

// DefaultTries is how many boots a new image gets to become healthy.
const DefaultTries = 3

// MaxTries bounds the tries an install may ask for.
const MaxTries = 9

// ErrRefused is wrapped by Install's errors about the image itself (its
// checksum, size or format) and the request (tries): the caller's fault.
var ErrRefused = errors.New("image refused")

// tmpName is where Install writes before the rename; systemd-boot skips
// names that start with a dot.
const tmpName = ".ironvisor-new.tmp"

// Entry is one slot file.
type Entry struct {
	File string // the file name in Dir, as it is now
	Slot string // A or B
	Gen  int    // the generation; higher is newer
	// TriesLeft and TriesDone are the boot counter; -1 when the file has
	// none (a blessed, good entry).
	TriesLeft, TriesDone int
	Version              string // IMAGE_VERSION from the UKI's .osrel; "" if unknown
	Size                 int64
}

// Counting reports whether the entry still has a boot counter: it has not
// been blessed yet.
func (e Entry) Counting() bool { return e.TriesLeft >= 0 }

// Bad reports whether the entry used up its tries without being blessed;
// systemd-boot boots it only when nothing else is left.
func (e Entry) Bad() bool { return e.TriesLeft == 0 }

// ID is the file name without the boot counter.
func (e Entry) ID() string { return fmt.Sprintf("%s%d-%s.efi", Prefix, e.Gen, e.Slot) }

// State names the entry's standing: "good" (blessed), "trial" (tries
// left) or "bad" (none left).
func (e Entry) State() string {
	switch {
	case !e.Counting():
		return "good"
	case e.Bad():
		return "bad"
	}
	return "trial"
}

// Name returns the file name of slot at generation gen with tries left
// (no counter when tries < 0).
func Name(slot string, gen, tries int) string {
	if tries < 0 {
		return fmt.Sprintf("%s%d-%s.efi", Prefix, gen, slot)
	}
	return fmt.Sprintf("%s%d-%s+%d.efi", Prefix, gen, slot, tries)
}

// ParseName parses a slot file's name (case does not matter: FAT keeps
// it, systemd-boot folds it). Anything else is an error.
func ParseName(name string) (Entry, error) {
	e := Entry{File: name, TriesLeft: -1, TriesDone: -1}
	low := strings.ToLower(name)
	rest, ok := strings.CutPrefix(low, Prefix)
	if !ok {
		return e, fmt.Errorf("slot file %q: does not start with %q", name, Prefix)
	}
	rest, ok = strings.CutSuffix(rest, ".efi")
	if !ok {
		return e, fmt.Errorf("slot file %q: not a .efi file", name)
	}
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		counter := rest[i+1:]
		rest = rest[:i]
		left, done, hasDone := strings.Cut(counter, "-")
		var err error
		if e.TriesLeft, err = counterValue(left); err != nil {
			return e, fmt.Errorf("slot file %q: tries left: %w", name, err)
		}
		e.TriesDone = 0
		if hasDone {
			if e.TriesDone, err = counterValue(done); err != nil {
				return e, fmt.Errorf("slot file %q: tries done: %w", name, err)
			}
		}
	}
	gen, slot, ok := strings.Cut(rest, "-")
	if !ok || (slot != A && slot != B) {
		return e, fmt.Errorf("slot file %q: want %sGEN-a or %sGEN-b", name, Prefix, Prefix)
	}
	n, err := counterValue(gen)
	if err != nil || n == 0 {
		return e, fmt.Errorf("slot file %q: generation %q is not a positive number", name, gen)
	}
	e.Gen, e.Slot = n, slot
	return e, nil
}

// counterValue parses a small decimal number: digits only, at most 9.
func counterValue(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.Atoi(s)
}

// Other returns the slot that is not slot.
func Other(slot string) string {
	if slot == A {
		return B
	}
	return A
}

// ESP is a mounted EFI system partition.
type ESP struct {
	Root string // its mount point
}

// dir returns the folder of the slot files.
func (e ESP) dir() string { return filepath.Join(e.Root, Dir) }

// List returns the slot files, newest generation first, with their
// versions. Other files in Dir are ignored.
func (e ESP) List() ([]Entry, error) {
	ents, err := os.ReadDir(e.dir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slots: %w", err)
	}
	var out []Entry
	for _, d := range ents {
		en, err := ParseName(d.Name())
		if err != nil || d.IsDir() {
			continue
		}
		path := filepath.Join(e.dir(), d.Name())
		if st, err := os.Stat(path); err == nil {
			en.Size = st.Size()
		}
		en.Version, _ = Version(path)
		out = append(out, en)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Gen > out[j].Gen })
	return out, nil
}

// Install writes the UKI read from r into the slot other than booted (A
// or B; "" means A is booted), as the next generation with tries boots
// left. The bytes go to a temporary file that is hashed as it is written,
// must match wantSHA256 (hex) and be a UKI (a PE image with .linux and
// .osrel sections), no larger than maxSize; only then are the slot's old
// files removed and the new one renamed into place, and the file and the
// folder synced. Any refusal leaves the slots as they were.
func (e ESP) Install(r io.Reader, wantSHA256 string, maxSize int64, booted string, tries int) (Entry, error) {
	want, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(wantSHA256)))
	if err != nil || len(want) != sha256.Size {
		return Entry{}, fmt.Errorf("%w: sha256 %q: want 64 hex digits", ErrRefused, wantSHA256)
	}
	if tries < 1 || tries > MaxTries {
		return Entry{}, fmt.Errorf("%w: tries %d: want 1 to %d", ErrRefused, tries, MaxTries)
	}
	if booted == "" {
		booted = A
	}
	if err := os.MkdirAll(e.dir(), 0o755); err != nil {
		return Entry{}, fmt.Errorf("slots: %w", err)
	}
	tmp := filepath.Join(e.dir(), tmpName)
	size, sum, err := writeSynced(tmp, io.LimitReader(r, maxSize+1))
	if err == nil && size > maxSize {
		err = fmt.Errorf("%w: larger than %d bytes", ErrRefused, maxSize)
	}
	if err == nil && !bytes.Equal(sum, want) {
		err = fmt.Errorf("%w: sha256 mismatch: got %x, want %x", ErrRefused, sum, want)
	}
	var version string
	if err == nil {
		if version, err = checkUKI(tmp); err != nil {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return Entry{}, err
	}
	old, err := e.List()
	if err != nil {
		os.Remove(tmp)
		return Entry{}, err
	}
	gen := 1
	target := Other(booted)
	for _, o := range old {
		gen = max(gen, o.Gen+1)
	}
	for _, o := range old {
		if o.Slot == target {
			if err := os.Remove(filepath.Join(e.dir(), o.File)); err != nil {
				os.Remove(tmp)
				return Entry{}, fmt.Errorf("slots: remove the old slot %s: %w", target, err)
			}
		}
	}
	en := Entry{File: Name(target, gen, tries), Slot: target, Gen: gen, TriesLeft: tries, TriesDone: 0, Version: version, Size: size}
	if err := durable.Rename(tmp, filepath.Join(e.dir(), en.File)); err != nil {
		os.Remove(tmp)
		return Entry{}, fmt.Errorf("slots: %w", err)
	}
	return en, nil
}

// writeSynced copies r to a new file at path, hashing it, and syncs it.
func writeSynced(path string, r io.Reader) (int64, []byte, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("slots: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		f.Close()
		return n, nil, fmt.Errorf("read the image: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, nil, fmt.Errorf("slots: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return n, nil, fmt.Errorf("slots: %w", err)
	}
	return n, h.Sum(nil), nil
}

// Bless renames the booted entry en to its name without a counter, so
// that systemd-boot takes it as good from now on. An entry without a
// counter is left alone.
func (e ESP) Bless(en Entry) (Entry, error) {
	if !en.Counting() {
		return en, nil
	}
	good := en
	good.File, good.TriesLeft, good.TriesDone = en.ID(), -1, -1
	if err := durable.Rename(filepath.Join(e.dir(), en.File), filepath.Join(e.dir(), good.File)); err != nil {
		return en, fmt.Errorf("slots: bless %s: %w", en.File, err)
	}
	return good, nil
}

// checkUKI checks that path is a PE image with the sections of a UKI and
// returns its version.
func checkUKI(path string) (string, error) {
	f, err := pe.Open(path)
	if err != nil {
		return "", fmt.Errorf("not a UKI (a PE image): %w", err)
	}
	defer f.Close()
	for _, name := range []string{".linux", ".osrel"} {
		if f.Section(name) == nil {
			return "", fmt.Errorf("not a UKI: no %s section", name)
		}
	}
	return osrelVersion(f)
}

// Version returns IMAGE_VERSION from the .osrel section of the UKI at
// path.
func Version(path string) (string, error) {
	f, err := pe.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return osrelVersion(f)
}

// maxOSRel bounds the .osrel section read.
const maxOSRel = 64 << 10

// osrelVersion reads IMAGE_VERSION (or VERSION_ID) from f's .osrel.
func osrelVersion(f *pe.File) (string, error) {
	s := f.Section(".osrel")
	if s == nil {
		return "", errors.New("no .osrel section")
	}
	b, err := io.ReadAll(io.LimitReader(s.Open(), maxOSRel))
	if err != nil {
		return "", fmt.Errorf(".osrel: %w", err)
	}
	kv := ParseOSRelease(b)
	if v := kv["IMAGE_VERSION"]; v != "" {
		return v, nil
	}
	return kv["VERSION_ID"], nil
}

// ParseOSRelease parses os-release(5) text: KEY=VALUE lines, the value
// optionally in single or double quotes; comments, blank and malformed
// lines are skipped. NUL bytes end the text (a PE section is padded).
func ParseOSRelease(b []byte) map[string]string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out
}

// OSRelease returns the .osrel text an Ironvisor UKI of version carries.
// It has no ID or IMAGE_ID on purpose: systemd-boot then gives the entry
// no sort key and orders the slots by their IDs (the generation), not by
// version, so that a downgrade still boots first.
func OSRelease(version string) string {
	return fmt.Sprintf("PRETTY_NAME=\"Ironvisor %s\"\nIMAGE_VERSION=%s\n", version, version)
}
