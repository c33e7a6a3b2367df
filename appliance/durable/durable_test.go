package durable

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryRenameIsDurable: no code of the appliance renames a file
// without fsyncing its directory, which loses the new name to a power cut
// after the rename was acknowledged (issue 10, finding 9: volumes, images
// and the TLS certificate did). Every rename goes through Rename.
func TestEveryRenameIsDurable(t *testing.T) {
	var bad []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if filepath.Base(filepath.Dir(path)) == "durable" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "os.Rename(") {
			bad = append(bad, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("os.Rename without a directory fsync (use durable.Rename) in %q", bad)
	}
}

// TestRename: the file is under its new name, in another directory too.
func TestRename(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")
	if err := os.WriteFile(from, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Rename(from, to); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(to); err != nil || string(b) != "x" {
		t.Fatalf("renamed file: %q %v", b, err)
	}
	if err := Rename(from, to); err == nil {
		t.Fatal("renaming a missing file succeeded")
	}
}
