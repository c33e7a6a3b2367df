// Package durable makes changes to directory entries survive a crash. A
// rename (or a create, or a remove) is in the directory, not in the file:
// fsync of the file makes its data durable, and only fsync of the
// directory makes the new name durable (rename(2), fsync(2)). Every
// rename that an acknowledgement depends on goes through Rename.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs directory dir, so that the entries created, renamed or
// removed in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Rename renames from to to and fsyncs to's directory, and from's when it
// is another, so that neither the new name nor the old one's absence can
// be lost to a crash once Rename returns.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(to)); err != nil {
		return err
	}
	if filepath.Dir(from) != filepath.Dir(to) {
		return SyncDir(filepath.Dir(from))
	}
	return nil
}
