package memory

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vma is one mapping of /proc/self/smaps.
type vma struct {
	start, end uint64
	flags      []string
}

// findVMA returns the mapping of this process that holds addr.
func findVMA(t *testing.T, addr uint64) (vma, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("SKIP: no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var cur vma
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if r, _, ok := strings.Cut(line, " "); ok && strings.Contains(r, "-") && !strings.HasSuffix(r, ":") {
			lo, hi, _ := strings.Cut(r, "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				cur, in = vma{start: a, end: b}, a <= addr && addr < b
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			cur.flags = strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
			return cur, true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return vma{}, false
}

// addrOf returns the host address of b[0].
func addrOf(t *testing.T, b []byte) uint64 {
	t.Helper()
	a, err := strconv.ParseUint(strings.TrimPrefix(fmt.Sprintf("%p", &b[0]), "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAllocateAlignsForHugePages checks that guest RAM of at least a huge
// page starts on a huge page boundary (KVM maps large pages only where
// guest and host addresses agree modulo 2 MiB, and guest RAM starts at
// guest address 0), is advised MADV_HUGEPAGE ("hg" in smaps' VmFlags),
// spans exactly the requested size (the alignment slack is returned), and
// is gone after Release.
func TestAllocateAlignsForHugePages(t *testing.T) {
	_, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled")
	thp := err == nil
	for _, size := range []uint64{HugePageSize, 768 << 20, 3<<20 + 4096} {
		t.Run(strconv.FormatUint(size, 10), func(t *testing.T) {
			b, err := Allocate(size)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(b)) != size || uint64(cap(b)) != size {
				t.Fatalf("len %d cap %d, want %d", len(b), cap(b), size)
			}
			a := addrOf(t, b)
			if a%HugePageSize != 0 {
				t.Errorf("guest RAM at %#x, not on a 2 MiB boundary", a)
			}
			b[0], b[len(b)-1] = 1, 2 // both ends are mapped and writable
			m, ok := findVMA(t, a)
			if !ok {
				t.Fatalf("no mapping holds %#x", a)
			}
			if m.start != a || m.end != a+(size+4095)&^4095 {
				t.Errorf("mapping %#x-%#x, want exactly %#x-%#x", m.start, m.end, a, a+size)
			}
			hg := false
			for _, f := range m.flags {
				hg = hg || f == "hg"
			}
			if thp && !hg {
				t.Errorf("guest RAM not advised MADV_HUGEPAGE: VmFlags %v", m.flags)
			}
			if err := Release(b); err != nil {
				t.Fatal(err)
			}
			if m, ok := findVMA(t, a); ok && m.start == a {
				t.Errorf("mapping %#x-%#x still there after Release", m.start, m.end)
			}
		})
	}
}

// TestAllocateSmall checks that RAM below a huge page is mapped as asked,
// with no alignment or advice needed.
func TestAllocateSmall(t *testing.T) {
	b, err := Allocate(8192)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8192 {
		t.Fatalf("len %d", len(b))
	}
	b[8191] = 1
	if err := Release(b); err != nil {
		t.Fatal(err)
	}
	if _, err := Allocate(0); err == nil {
		t.Fatal("Allocate(0) succeeded")
	}
}
