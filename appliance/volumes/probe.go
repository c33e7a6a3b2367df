package volumes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Probe reports how Create makes volumes in dir: it writes a small image
// file there, makes a volume of it with Create, and removes both. It is
// how an operator learns whether a launch copies its image (Sparse) or
// shares its extents (Reflink), e.g. on an ext4 rather than a btrfs data
// disk.
func Probe(dir string) (Method, error) {
	tmp, err := os.MkdirTemp(dir, ".volume-probe-")
	if err != nil {
		return "", fmt.Errorf("probe volumes in %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	disk := filepath.Join(tmp, "image")
	if err := os.WriteFile(disk, bytes.Repeat([]byte("ironvisor"), 8<<10), 0o600); err != nil {
		return "", fmt.Errorf("probe volumes in %s: %w", dir, err)
	}
	m, err := Create(disk, filepath.Join(tmp, "volume"))
	if err != nil {
		return "", fmt.Errorf("probe volumes in %s: %w", dir, err)
	}
	return m, nil
}
