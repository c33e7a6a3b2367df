package hostinfo

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/volumes"
)

// Storage describes the file system that holds the appliance's state,
// images and root volumes, and whether a launch copies its image.
type Storage struct {
	Dir string `json:"dir"`
	// FSType is the file system's type from statfs: "btrfs", "ext4",
	// "xfs", "tmpfs", ..., or its magic number in hex.
	FSType string `json:"fs_type"`
	// VolumeMethod is how root volumes are made here (package volumes,
	// found by making one): "reflink" or "sparse".
	VolumeMethod string `json:"volume_method"`
	// CopyOnWrite is true when volumes share their image's extents, so
	// that a launch costs the same whatever the image's size; false means
	// every launch copies the image's data.
	CopyOnWrite bool   `json:"copy_on_write"`
	Error       string `json:"error,omitempty"`
}

// fsNames names the statfs magic numbers of the file systems a data
// directory is likely to be on.
var fsNames = map[int64]string{
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.EXT4_SUPER_MAGIC:      "ext4", // ext2 and ext3 share it
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlay",
	unix.NFS_SUPER_MAGIC:       "nfs",
	0x2fc12fc1:                 "zfs",
}

// storageProbe finds the Storage of a directory once: its file system
// does not change while the appliance runs, and the probe writes files.
type storageProbe struct {
	once sync.Once
	doc  Storage
}

// get returns dir's Storage, probing it on the first call.
func (p *storageProbe) get(dir string) Storage {
	p.once.Do(func() { p.doc = probeStorage(dir) })
	return p.doc
}

// probeStorage reads dir's file system type and makes a volume there.
func probeStorage(dir string) Storage {
	s := Storage{Dir: dir}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		s.Error = fmt.Sprintf("statfs %s: %v", dir, err)
		return s
	}
	s.FSType = fsNames[int64(st.Type)]
	if s.FSType == "" {
		s.FSType = fmt.Sprintf("%#x", st.Type)
	}
	m, err := volumes.Probe(dir)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.VolumeMethod, s.CopyOnWrite = string(m), m == volumes.Reflink
	return s
}
