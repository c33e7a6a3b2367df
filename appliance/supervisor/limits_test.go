package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

// TestIOLimitsOnVolumeDisk checks the io limits a VMM gets: io.max with
// DefaultDiskLimits on the disk of its volume, when that is known, and
// io.weight in any case.
func TestIOLimitsOnVolumeDisk(t *testing.T) {
	vol, err := os.Create(filepath.Join(t.TempDir(), "volume"))
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	maj, min, known, err := jail.DiskDevice(vol)
	if err != nil {
		t.Fatal(err)
	}
	lines, weight := Options{}.ioLimits(jail.Files{Disks: []*os.File{vol, vol}})
	if weight != 100 {
		t.Errorf("io.weight %d, want 100", weight)
	}
	want := DefaultDiskLimits
	want.Major, want.Minor = maj, min
	switch {
	case known && (len(lines) != 1 || lines[0] != want):
		t.Errorf("io.max lines %+v, want one: %+v", lines, want)
	case !known && len(lines) != 0:
		t.Errorf("io.max lines %+v for a volume on no known disk, want none", lines)
	}
	custom := jail.IOLimit{WriteIOPS: 10}
	if lines, _ := (Options{DiskLimits: custom}).ioLimits(jail.Files{Disks: []*os.File{vol}}); known && lines[0].WriteIOPS != 10 {
		t.Errorf("Options.DiskLimits ignored: %+v", lines)
	}
}
