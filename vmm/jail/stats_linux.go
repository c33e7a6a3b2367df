package jail

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is a jailed VM's resource use, read from its cgroup.
type Stats struct {
	// CPUUsec is the CPU time used, in microseconds (cpu.stat usage_usec).
	CPUUsec uint64
	// MemoryCurrent and MemoryPeak are memory.current and memory.peak in
	// bytes; 0 when the memory controller is off or the file is missing.
	MemoryCurrent, MemoryPeak uint64
	// OOMKills counts processes the OOM killer killed (memory.events).
	OOMKills uint64
	// Procs is the number of processes in the cgroup.
	Procs int
}

// ReadStats reads the resource use of the VM named by spec.ID (using its
// CgroupParent).
func ReadStats(spec Spec) (Stats, error) {
	var st Stats
	parent, err := cgroupParent(spec)
	if err != nil {
		return st, err
	}
	leaf := filepath.Join(parent, spec.ID)
	cpu, err := os.ReadFile(filepath.Join(leaf, "cpu.stat"))
	if err != nil {
		return st, fmt.Errorf("jail %s stats: %w", spec.ID, err)
	}
	st.CPUUsec = keyed(cpu, "usage_usec")
	st.MemoryCurrent = single(leaf, "memory.current")
	st.MemoryPeak = single(leaf, "memory.peak")
	if ev, err := os.ReadFile(filepath.Join(leaf, "memory.events")); err == nil {
		st.OOMKills = keyed(ev, "oom_kill")
	}
	procs, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil {
		return st, fmt.Errorf("jail %s stats: %w", spec.ID, err)
	}
	st.Procs = len(strings.Fields(string(procs)))
	return st, nil
}

// keyed returns the value of key in a flat-keyed cgroup file ("key value"
// lines), or 0.
func keyed(b []byte, key string) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// single returns the number in a single-value cgroup file, or 0.
func single(leaf, name string) uint64 {
	b, err := os.ReadFile(filepath.Join(leaf, name))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}
