// Package volumes creates and deletes instance root volumes: a copy of an
// image's disk, reflinked (FICLONE) where the filesystem shares extents, and
// otherwise copied sparsely (SEEK_DATA/SEEK_HOLE), so that the unwritten
// parts of an image take no space in the copy.
package volumes
