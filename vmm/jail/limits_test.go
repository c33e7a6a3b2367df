package jail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLimitsWritten checks every limit file a VM's cgroup leaf gets, in a
// directory standing in for the leaf (the hosts that run make test have
// neither the pids nor the io controller in cgroup v2; the rack test reads
// them back from a real leaf).
func TestLimitsWritten(t *testing.T) {
	leaf := t.TempDir()
	files := []string{"memory.max", "memory.oom.group", "memory.swap.max", "cpu.max", "pids.max", "io.max", "io.weight"}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(leaf, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := Spec{
		MemoryMax: 64 << 20, CPUs: 2, PidsMax: 40,
		IOMax:    []IOLimit{{Major: 8, Minor: 0, ReadBPS: 100 << 20, WriteIOPS: 2000}},
		IOWeight: 50,
	}
	if err := writeLimits(leaf, s); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"memory.max": "67108864", "memory.oom.group": "1", "memory.swap.max": "0",
		"cpu.max": "200000 100000", "pids.max": "40",
		"io.max": "8:0 rbps=104857600 wbps=max riops=max wiops=2000", "io.weight": "default 50",
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(leaf, f))
		if got := strings.TrimSpace(string(b)); got != want[f] {
			t.Errorf("%s = %q, want %q", f, got, want[f])
		}
	}
	if got := controllersFor(s); strings.Join(got, " ") != "memory cpu pids io" {
		t.Errorf("controllersFor = %v, want memory cpu pids io", got)
	}
}

func TestPidsBudget(t *testing.T) {
	if a, b := PidsBudget(1), PidsBudget(8); a < 1+32 || b != a+7 {
		t.Errorf("PidsBudget(1) = %d, PidsBudget(8) = %d: want vCPUs + GOMAXPROCS + 32, growing by one per vCPU", a, b)
	}
}

func TestDiskDevice(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	maj, min, ok, err := DiskDevice(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the test binary is on disk %d:%d (known %v)", maj, min, ok)
	if ok {
		if _, err := os.Stat(filepath.Join("/sys/dev/block", devName(maj, min), "partition")); err == nil {
			t.Errorf("DiskDevice returned partition %d:%d, want its whole disk", maj, min)
		}
	}
	tmp, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if _, _, ok, err := DiskDevice(tmp); ok || err != nil {
		t.Errorf("DiskDevice of a procfs file: known %v, %v; want unknown, no error", ok, err)
	}
}
