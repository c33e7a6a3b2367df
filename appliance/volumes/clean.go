package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/durable"
)

// CleanTemp removes from dir the temporary files of copies a crash
// interrupted (Create writes under ".NAME.*" and renames when done). It
// must run before any copy starts; a missing dir has nothing to clean.
func CleanTemp(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean volumes: %w", err)
	}
	removed := false
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clean volumes: %w", err)
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(dir)
	}
	return nil
}
