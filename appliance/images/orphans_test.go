package images

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestOrphanedImageDirsRemovedAtOpen: an image directory without a record
// (a crash after the upload's rename and before its commit, or after a
// deletion's commit and before its removal) is gone once the store opens
// again, and the images with records keep their files (issue 10,
// finding 9).
func TestOrphanedImageDirsRemovedAtOpen(t *testing.T) {
	s, dir := newStore(t)
	kept, err := upload(s, "kept", map[string][]byte{PartKernel: testutil.PVHHello("hi", testutil.ExitReset)})
	if err != nil {
		t.Fatal(err)
	}
	// The crash after the rename: a whole image directory, no record.
	cut := filepath.Join(dir, "images", "img-00000000000000aa")
	if err := os.Mkdir(cut, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cut, PartKernel), []byte("kernel"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The crash after a deletion's commit.
	gone, err := upload(s, "gone", map[string][]byte{PartKernel: testutil.PVHHello("hi", testutil.ExitReset)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.DeleteOne("images", gone.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := New(s.db, dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{kept.ID}) {
		t.Fatalf("image directory holds %q, want only %s", got, kept.ID)
	}
	if _, err := os.Stat(s.Path(kept.ID, PartKernel)); err != nil {
		t.Fatalf("a recorded image lost its kernel: %v", err)
	}
}
