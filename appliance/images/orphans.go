package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/durable"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// cleanOrphans removes the image directories that have no record: an
// upload a crash cut between moving its directory into place and
// committing its record (never acknowledged), or a deletion cut between
// removing the record and the files (acknowledged: the files must go).
// It runs in New, before any upload can be between the two.
func (s *Store) cleanOrphans() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read image directory: %w", err)
	}
	removed := false
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		known := true
		err := s.db.View(func(tx *store.Tx) error {
			known = tx.Has(store.Images, e.Name())
			return nil
		})
		if err != nil {
			return err
		}
		if known {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return fmt.Errorf("remove orphaned image directory: %w", err)
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(s.dir)
	}
	return nil
}
