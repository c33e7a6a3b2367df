package hostinfo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/volumes/btrfstest"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// TestStorageOnBtrfsIsCopyOnWrite: on a real btrfs (a loop-mounted image,
// as root), the host document says btrfs, reflink, copy-on-write, and
// the probe leaves nothing in the folder.
func TestStorageOnBtrfsIsCopyOnWrite(t *testing.T) {
	dir := btrfstest.Mount(t, 256<<20)
	c := fakeCollector(t)
	c.DataDir = dir
	h := c.Collect()
	want := Storage{Dir: dir, FSType: "btrfs", VolumeMethod: "reflink", CopyOnWrite: true}
	if h.Storage == nil || *h.Storage != want {
		t.Fatalf("Storage = %+v, want %+v", h.Storage, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the probe left %d entries", len(ents))
	}
	b, _ := json.Marshal(h)
	if !strings.Contains(string(b), `"storage":{"dir":"`+dir+`","fs_type":"btrfs","volume_method":"reflink","copy_on_write":true}`) {
		t.Errorf("JSON: %s", b)
	}
}

// TestStorageSaysWhatItCannotRead: a data folder that is not there gives
// an error in the document, never a missing document.
func TestStorageSaysWhatItCannotRead(t *testing.T) {
	c := fakeCollector(t)
	c.DataDir = filepath.Join(t.TempDir(), "none")
	h := c.Collect()
	if h.Storage == nil || h.Storage.Error == "" || h.Storage.CopyOnWrite {
		t.Errorf("Storage = %+v, want an error", h.Storage)
	}
	c = fakeCollector(t)
	if c.Collect().Storage != nil {
		t.Error("no DataDir, yet a Storage")
	}
}

// TestStorageOfThisHost: the test's own folder has a named type and a
// method that matches copy_on_write.
func TestStorageOfThisHost(t *testing.T) {
	c := fakeCollector(t)
	c.DataDir = t.TempDir()
	s := c.Collect().Storage
	if s == nil || s.Error != "" || s.FSType == "" || s.CopyOnWrite != (s.VolumeMethod == "reflink") ||
		s.VolumeMethod != "reflink" && s.VolumeMethod != "sparse" {
		t.Errorf("Storage = %+v", s)
	}
	t.Logf("this host's temporary folder: %+v", s)
}

// fakeCollector is a Collector over a fake proc with no KVM.
func fakeCollector(t *testing.T) *Collector {
	root := fakeProc(t, map[string]string{"cpuinfo": cpuinfo, "meminfo": meminfo, "uptime": "1.00 1.00\n", "sys/kernel/hostname": "n\n"})
	return &Collector{Mode: "service", ProcRoot: root, KVMDevice: "/dev/kvm-test",
		Probe:     func(dev string) kvm.Status { return kvm.Status{Device: dev} },
		Addresses: func() ([]Address, error) { return nil, nil }}
}
