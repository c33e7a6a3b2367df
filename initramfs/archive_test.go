package initramfs

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// sample returns a builder with one entry of every kind, including a host
// file at src.
func sample(t *testing.T, src string) *Builder {
	t.Helper()
	b := New()
	err := b.Add(
		Console(),
		HostFile("/init", 0o755, src),
		File("/etc/hostname", 0, []byte("box\n")),
		Symlink("/bin/sh", "/init"),
		Dir("/tmp", 0o1777),
	)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(t *testing.T, b *Builder, c Compression) [32]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(buf.Bytes())
}

func TestBuildTwiceIsByteIdentical(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "init")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Compression{None, Gzip} {
		first := sum(t, sample(t, src), c)
		// A new modification time and owner-only mode on the host file
		// must not change the archive.
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(src, later, later); err != nil {
			t.Fatal(err)
		}
		second := sum(t, sample(t, src), c)
		if first != second {
			t.Errorf("compression %d: sha256 differs between builds: %x != %x", c, first, second)
		}
	}
	// Different contents must change it (the check above can fail).
	a := sum(t, sample(t, src), None)
	if err := os.WriteFile(src, []byte("#!/bin/false\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if b := sum(t, sample(t, src), None); a == b {
		t.Error("sha256 did not change when a file's contents changed")
	}
}

func TestReadBackEntries(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "init")
	if err := os.WriteFile(src, []byte("ELF-ish"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Compression{None, Gzip} {
		var buf bytes.Buffer
		if err := sample(t, src).Write(&buf, c); err != nil {
			t.Fatal(err)
		}
		got, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		want := []Entry{
			{Path: "/bin", Kind: KindDir, Perm: 0o755},
			{Path: "/bin/sh", Kind: KindSymlink, Perm: 0o777, Target: "/init"},
			{Path: "/dev", Kind: KindDir, Perm: 0o755},
			{Path: "/dev/console", Kind: KindCharDev, Perm: 0o600, Major: 5, Minor: 1},
			{Path: "/etc", Kind: KindDir, Perm: 0o755},
			{Path: "/etc/hostname", Kind: KindFile, Perm: 0o644, Data: []byte("box\n")},
			{Path: "/init", Kind: KindFile, Perm: 0o755, Data: []byte("ELF-ish")},
			{Path: "/tmp", Kind: KindDir, Perm: 0o1777},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("compression %d: read back\n%+v\nwant\n%+v", c, got, want)
		}
	}
}

func TestLaterAddReplacesEarlier(t *testing.T) {
	b := New()
	if err := b.Add(File("/a", 0, []byte("one")), File("/a", 0, []byte("two"))); err != nil {
		t.Fatal(err)
	}
	es := b.Entries()
	if len(es) != 1 || string(es[0].Data) != "two" {
		t.Fatalf("entries = %+v, want one /a holding \"two\"", es)
	}
}

func TestAddRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "rel/x", "/a/../b", "/", "/a/"} {
		if err := New().Add(File(p, 0, nil)); err == nil {
			t.Errorf("Add(%q) succeeded, want an error", p)
		}
	}
}

func TestWriteFileReportsSizeAndMissingSource(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.cpio")
	n, err := sample(t, filepath.Join(dir, "missing")).WriteFile(out, None)
	if err == nil {
		t.Fatalf("WriteFile with a missing host file succeeded (%d bytes)", n)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed WriteFile left %s behind", out)
	}
	b := New()
	if err := b.Add(File("/x", 0, []byte("hi"))); err != nil {
		t.Fatal(err)
	}
	n, err = b.WriteFile(out, None)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() != n || n%4 != 0 {
		t.Errorf("WriteFile size %d, file %v (err %v); want equal and 4-aligned", n, st, err)
	}
}

func TestReadRejectsGarbage(t *testing.T) {
	if _, err := Read(bytes.NewReader([]byte("not a cpio archive at all, sorry"))); err == nil {
		t.Error("Read accepted garbage")
	}
}
