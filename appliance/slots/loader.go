package slots

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// LoaderGUID is the vendor GUID of systemd-boot's EFI variables.
const LoaderGUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// The variables the loader sets for the booted system: the path of the
// counting entry it booted (after it decremented it), and the ID of the
// entry it picked.
const (
	VarBootCountPath = "LoaderBootCountPath"
	VarEntrySelected = "LoaderEntrySelected"
)

// maxVar bounds an EFI variable read.
const maxVar = 4096

// DecodeEFIString decodes an efivarfs file holding a string variable: four
// bytes of attributes, then UTF-16LE text ending in a NUL (which may be
// missing).
func DecodeEFIString(b []byte) (string, error) {
	if len(b) < 4 {
		return "", errors.New("efi variable: shorter than its attributes")
	}
	b = b[4:]
	if len(b)%2 != 0 {
		return "", errors.New("efi variable: odd UTF-16 length")
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}

// ReadEFIString reads the string variable name of systemd-boot from the
// efivarfs mounted at efivars; os.ErrNotExist (wrapped) when it is not
// set.
func ReadEFIString(efivars, name string) (string, error) {
	f, err := os.Open(filepath.Join(efivars, name+"-"+LoaderGUID))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, maxVar+1)
	n, _ := f.Read(b)
	if n > maxVar {
		return "", fmt.Errorf("efi variable %s: longer than %d bytes", name, maxVar)
	}
	s, err := DecodeEFIString(b[:n])
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Booted returns the slot entry the loader booted, from
// LoaderBootCountPath (a counting entry, e.g. \EFI\Linux\ironvisor-2-b+2-1.efi)
// or else LoaderEntrySelected (its ID). Its File is as the loader named
// it; match it against List by Slot and Gen.
func Booted(efivars string) (Entry, error) {
	var errs []error
	for _, name := range []string{VarBootCountPath, VarEntrySelected} {
		s, err := ReadEFIString(efivars, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s = strings.ReplaceAll(s, `\`, "/")
		return ParseName(s[strings.LastIndexByte(s, '/')+1:])
	}
	return Entry{}, fmt.Errorf("the loader says nothing of the booted slot: %w", errors.Join(errs...))
}

// Status is where the slots stand after a boot.
type Status struct {
	// Booted is the booted slot's entry as it is on the ESP now.
	Booted Entry
	// Trial is true while the booted entry still counts its tries: it
	// must become healthy and be blessed.
	Trial bool
	// Failed is a newer entry than the booted one with no tries left:
	// the loader fell back from it, a rollback. Nil otherwise.
	Failed *Entry
}

// Assess finds booted (by slot and generation) among entries and says
// whether this is a trial boot and whether a newer entry failed.
func Assess(entries []Entry, booted Entry) (Status, error) {
	var st Status
	found := false
	for _, e := range entries {
		if e.Slot == booted.Slot && e.Gen == booted.Gen {
			st.Booted, found = e, true
		}
	}
	if !found {
		return st, fmt.Errorf("the booted entry %s is not on the ESP", booted.ID())
	}
	st.Trial = st.Booted.Counting()
	for _, e := range entries {
		if e.Gen > st.Booted.Gen && e.Bad() {
			e := e
			st.Failed = &e
		}
	}
	return st, nil
}
