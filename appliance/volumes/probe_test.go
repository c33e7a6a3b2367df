package volumes

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProbeSaysHowVolumesAreMade: Probe answers Reflink on a file system
// that shares extents, and leaves nothing behind.
func TestProbeSaysHowVolumesAreMade(t *testing.T) {
	dir := reflinkDir(t)
	before, _ := os.ReadDir(dir)
	m, err := Probe(dir)
	if err != nil || m != Reflink {
		t.Errorf("Probe(%s) = %q, %v; want %q", dir, m, err, Reflink)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("Probe left %d entries behind", len(after)-len(before))
	}
}

// TestProbeOfAFolderThatIsNotThere says why.
func TestProbeOfAFolderThatIsNotThere(t *testing.T) {
	if m, err := Probe(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("Probe of a missing folder = %q, no error", m)
	}
}

// TestProbeWhereNothingIsShared: where the test's own folder cannot
// reflink (an ext4 host), Probe answers Sparse.
func TestProbeWhereNothingIsShared(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tryClone(src, filepath.Join(dir, "dst")) == nil {
		t.Skipf("SKIP: %s reflinks; this test needs a file system that does not", dir)
	}
	if m, err := Probe(dir); err != nil || m != Sparse {
		t.Errorf("Probe(%s) = %q, %v; want %q", dir, m, err, Sparse)
	}
}
