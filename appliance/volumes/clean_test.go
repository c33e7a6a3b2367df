package volumes

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCleanTempRemovesCutCopies: the temporary file of a copy a crash cut
// short goes, finished volumes stay (issue 10, finding 9).
func TestCleanTempRemovesCutCopies(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"i-1.img", ".i-2.img.123456"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := CleanTemp(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "i-1.img" {
		t.Fatalf("left %v", ents)
	}
	if err := CleanTemp(filepath.Join(dir, "none")); err != nil {
		t.Fatalf("missing directory: %v", err)
	}
}
