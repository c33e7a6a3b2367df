//go:build rack

package service

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted
// (/proc/self/mountinfo).
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// "36 25 0:31 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if f := strings.Fields(pre); ok && len(f) >= 5 && strings.HasPrefix(post, "cgroup2 ") {
			return f[4]
		}
	}
	t.Fatal("no cgroup2 mount in /proc/self/mountinfo")
	return ""
}

// enableMemory creates parent below the cgroup2 mount mnt and enables the
// memory controller for parent's children where the host has it (from
// the mount down); where it has not, the leaves have no memory.stat and
// the benchmark counts the kernel's memory from /proc/meminfo instead.
func enableMemory(t *testing.T, mnt, parent string) {
	t.Helper()
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(mnt, parent)
	if err != nil {
		t.Fatal(err)
	}
	dir := mnt
	for _, part := range append([]string{""}, strings.Split(rel, "/")...) {
		dir = filepath.Join(dir, part)
		os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0) // absent controller: meminfo instead
	}
}

// leafPIDs returns the processes in the cgroup leaf.
func leafPIDs(t *testing.T, leaf string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s/cgroup.procs: %v", leaf, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// pfKthread is PF_KTHREAD, the flag of a kernel thread in /proc/PID/stat.
const pfKthread = 0x00200000

// kernelThread reports whether pid is a kernel thread. KVM moves the
// worker threads it starts for a VM (kvm-nx-lpage-recovery, where the NX
// huge page mitigation is on, as on the rack's L1) into the cgroup of the
// process that made the VM; they have no memory map, so
// /proc/PID/smaps_rollup answers ESRCH.
func kernelThread(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: state, ppid, pgrp, session, tty_nr, tpgid, flags.
	i := strings.LastIndex(string(b), ") ")
	if i < 0 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b)[i+2:])
	if len(f) < 7 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		t.Fatalf("/proc/%d/stat flags %q: %v", pid, f[6], err)
	}
	return flags&pfKthread != 0
}

// pssKiB returns the proportional set size of process pid
// (/proc/PID/smaps_rollup "Pss:", in KiB).
func pssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	v, ok := fieldKiB(t, "/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss")
	if !ok {
		t.Fatalf("no Pss in /proc/%d/smaps_rollup", pid)
	}
	return v
}

// meminfoKernelFields are the /proc/meminfo lines that count the kernel's
// own memory that a VM and its VMM process make the kernel allocate:
// thread stacks, the process's page tables, KVM's secondary (EPT/NPT)
// page tables, unreclaimable slab (struct kvm, vCPUs, shadow pages' page
// headers, files), per-CPU areas and vmalloc (memslots, bitmaps).
var meminfoKernelFields = []string{"KernelStack", "PageTables", "SecPageTables", "SUnreclaim", "Percpu", "VmallocUsed"}

// meminfoKernel returns each of meminfoKernelFields in KiB.
func meminfoKernel(t *testing.T) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, name := range meminfoKernelFields {
		m[name], _ = fieldKiB(t, "/proc/meminfo", name) // older kernels lack SecPageTables
	}
	return m
}

// fieldKiB returns the value of the "NAME:   123 kB" line of file.
func fieldKiB(t *testing.T, file, name string) (int64, bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatalf("%s %s: %v", file, name, err)
			}
			return v, true
		}
	}
	return 0, false
}
