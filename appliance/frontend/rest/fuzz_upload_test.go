package rest

import (
	"errors"
	"mime/multipart"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// FuzzReadParts feeds an arbitrary multipart body, as an admin client
// could send it, through the image upload's part parser: it never panics,
// refuses with a bad request or the image store's ErrInvalid, and what it
// accepts holds only the known text fields, within their limit.
func FuzzReadParts(f *testing.F) {
	part := func(name, body string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + body + "\r\n"
	}
	f.Add(part("name", "tiny") + part("kernel", "\x7fELF") + part("cmdline", "console=ttyS0") + "--B--\r\n")
	f.Add(part("name", "a") + part("name", "b") + "--B--\r\n")
	f.Add(part("kernel", "x") + part("kernel", "y") + "--B--\r\n")
	f.Add(part("bogus", "x") + "--B--\r\n")
	f.Add(part("cmdline", strings.Repeat("x", images.MaxCmdline+1)) + "--B--\r\n")
	f.Add("--B\r\nContent-Disposition: form-data; name=\"initrd\"; filename=\"../../x\"\r\n\r\n\x00\r\n--B--")
	f.Add("--B\r\n\r\n--B--\r\n")
	dir := f.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	imgs, err := images.New(db, dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		up, err := imgs.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer up.Abort()
		fields, err := readParts(multipart.NewReader(strings.NewReader(body), "B"), up)
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, images.ErrInvalid) {
				t.Fatalf("refused with neither a bad request nor ErrInvalid: %v", err)
			}
			return
		}
		for k, v := range fields {
			if (k != "name" && k != "cmdline") || len(v) > images.MaxCmdline {
				t.Fatalf("accepted field %q of %d bytes", k, len(v))
			}
		}
	})
}
