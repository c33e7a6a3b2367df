package images

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(db, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func upload(s *Store, name string, parts map[string][]byte) (Image, error) {
	u, err := s.Begin()
	if err != nil {
		return Image{}, err
	}
	defer u.Abort()
	for _, p := range []string{PartKernel, PartInitrd, PartDisk} {
		if b, ok := parts[p]; ok {
			if err := u.Add(p, bytes.NewReader(b)); err != nil {
				return Image{}, err
			}
		}
	}
	return u.Commit(name, "console=ttyS0")
}

// entries lists what is left in the images directory.
func entries(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestUploadPVH(t *testing.T) {
	s, _ := newStore(t)
	k := testutil.PVHHello("hi", testutil.ExitReset)
	img, err := upload(s, "tiny", map[string][]byte{PartKernel: k, PartInitrd: []byte("initrd")})
	if err != nil {
		t.Fatal(err)
	}
	if img.KernelFormat != "pvh" || img.Kernel.Size != int64(len(k)) || img.Initrd == nil || len(img.Kernel.SHA256) != 64 {
		t.Fatalf("image %+v", img)
	}
	got, err := os.ReadFile(s.Path(img.ID, PartKernel))
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("stored kernel differs: %v", err)
	}
	if g, err := s.Get("tiny"); err != nil || g.ID != img.ID {
		t.Fatalf("Get by name: %v %+v", err, g)
	}
	if _, err := upload(s, "tiny", map[string][]byte{PartKernel: k}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
}

func TestBrokenUploadLeavesNothing(t *testing.T) {
	s, dir := newStore(t)
	k := testutil.PVHHello("hi", testutil.ExitReset)
	cases := map[string]map[string][]byte{
		"garbage kernel":   {PartKernel: []byte("this is not a kernel at all, not even close")},
		"truncated ELF":    {PartKernel: k[:40]},
		"no kernel":        {PartInitrd: []byte("x")},
		"empty initrd":     {PartKernel: k, PartInitrd: {}},
		"truncated header": {PartKernel: append(make([]byte, 0x202), 'H', 'd')},
	}
	for name, parts := range cases {
		if _, err := upload(s, "x", parts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	for _, bad := range []string{"../x", "a/b", "..", ""} {
		if _, err := upload(s, bad, map[string][]byte{PartKernel: k}); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: err %v", bad, err)
		}
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if all, _ := s.List(); len(all) != 0 {
		t.Fatalf("records left: %v", all)
	}
}

func TestBzImageFromCache(t *testing.T) {
	paths, _ := filepath.Glob("../../.cache/kernels/*/boot/vmlinuz*")
	if len(paths) == 0 {
		t.Skip("SKIP: no bzImage under .cache/kernels (make fetches it)")
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if f, err := CheckKernel(b); err != nil || f != "bzimage" {
		t.Fatalf("%s: %q %v", paths[0], f, err)
	}
}

func FuzzCheckKernel(f *testing.F) {
	f.Add(testutil.PVHHello("x", testutil.ExitReset))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if format, err := CheckKernel(b); err == nil && format != "pvh" && format != "bzimage" {
			t.Fatalf("format %q", format)
		}
	})
}
