//go:build linux

package memory

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestAllocateAlignsForHugePages checks what lets KVM map guest RAM with
// 2 MiB nested page table entries: a 2 MiB-aligned start, the mapping
// exactly the size asked for (the over-reservation trimmed at both ends),
// and MADV_HUGEPAGE ("hg" in the mapping's VmFlags, proc(5)).
func TestAllocateAlignsForHugePages(t *testing.T) {
	const size = 6<<20 + 4096 // not a multiple of 2 MiB
	b, err := Allocate(size)
	if err != nil {
		t.Fatal(err)
	}
	defer Release(b)
	start := uintptr(unsafe.Pointer(&b[0]))
	if start%HugePageSize != 0 {
		t.Fatalf("guest RAM at %#x, not 2 MiB aligned", start)
	}
	if len(b) != size {
		t.Fatalf("len %d, want %d", len(b), size)
	}
	b[0], b[len(b)-1] = 1, 1
	vma, flags := smapsEntry(t, start)
	if want := fmt.Sprintf("%x-%x", start, start+size); vma != want {
		t.Errorf("mapping %s, want %s (head or tail of the reservation left mapped)", vma, want)
	}
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Logf("SKIP of the MADV_HUGEPAGE check: kernel without transparent huge pages (%v)", err)
		return
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("VmFlags %q lack hg (MADV_HUGEPAGE)", flags)
	}
}

// smapsEntry returns the address range and VmFlags of this process's
// mapping that contains addr.
func smapsEntry(t *testing.T, addr uintptr) (vma, flags string) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && !strings.HasSuffix(fields[0], ":") { // a mapping's header
			var lo, hi uintptr
			if _, err := fmt.Sscanf(fields[0], "%x-%x", &lo, &hi); err != nil {
				t.Fatalf("smaps header %q: %v", line, err)
			}
			in = lo <= addr && addr < hi
			vma = fields[0]
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return vma, strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x in /proc/self/smaps", addr)
	return "", ""
}
