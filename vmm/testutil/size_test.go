package testutil

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/boot"
	"github.com/ironvisor/ironvisor/vmm/memory"
)

func TestParseSizes(t *testing.T) {
	for _, c := range []struct {
		console string
		want    []Size
	}{
		{"", nil},
		{"TINY-SIZE cpus=1 mem=64M\n", []Size{{1, 64}}},
		{"boot\r\nTINY-SIZE cpus=1 mem=64M\r\nx\nTINY-SIZE cpus=2 mem=1024M\n", []Size{{1, 64}, {2, 1024}}},
		{"TINY-SIZE cpus=2 mem=10", nil},                      // still being written
		{"TINY-SIZE cpus=2 mem=256M", nil},                    // no end of line yet
		{"TINY-SIZE cpus= mem=64M\n", nil},                    // no digits
		{"TINY-SIZE cpus=-1 mem=64M\n", nil},                  // not a count
		{"TINY-SIZE cpus=99999999999999999999 mem=1M\n", nil}, // overflow
	} {
		if got := ParseSizes(c.console); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSizes(%q) = %v, want %v", c.console, got, c.want)
		}
	}
	if s := (Size{CPUs: 2, MemMiB: 256}).String(); s != "cpus=2 mem=256M" {
		t.Errorf("String = %q", s)
	}
}

// TestPVHSizeLoads checks the guest against the project's own PVH loader
// and that its strings are in the image.
func TestPVHSizeLoads(t *testing.T) {
	img := PVHSize(ExitHalt)
	mem := memory.FromBytes(make([]byte, 4<<20))
	e, err := boot.LoadPVH(mem, img, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.LongMode || e.RBX != boot.ZeroPage {
		t.Fatalf("entry %+v", e)
	}
	for _, s := range []string{SizeMarker + " cpus=\x00", " mem=\x00", "M\n\x00"} {
		if !bytes.Contains(img, []byte(s)) {
			t.Errorf("image lacks %q", s)
		}
	}
}

// TestPVHSizeUnderQEMU runs the guest under QEMU (TCG) with QEMU's own PVH
// loader, memory map and ACPI tables, an implementation independent of
// ours: microvm gives an ACPI 2.0 RSDP with an XSDT, pc a revision-0 RSDP
// with an RSDT and, with maxcpus, disabled MADT entries; the pc run also
// puts RAM above 4 GiB. The rack tests run the same guest on our VMM.
func TestPVHSizeUnderQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: boots QEMU under TCG; not in -short")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("SKIP: qemu-system-x86_64 not installed")
	}
	elf := filepath.Join(t.TempDir(), "size.elf")
	if err := os.WriteFile(elf, PVHSize(ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		machine, smp string
		memMiB       int
		want         Size
	}{
		{"microvm", "1", 64, Size{1, 64}},
		{"microvm", "2,maxcpus=4", 256, Size{2, 256}},
		{"pc", "3,maxcpus=8", 4608, Size{3, 4608}},
	} {
		got := qemuSize(t, qemu, elf, c.machine, c.smp, c.memMiB)
		if got != c.want {
			t.Errorf("-M %s -smp %s -m %d: guest says %v, want %v", c.machine, c.smp, c.memMiB, got, c.want)
		}
	}
}

// qemuSize boots elf under QEMU and returns the guest's size report; it
// fails the test when none comes within a minute.
func qemuSize(t *testing.T, qemu, elf, machine, smp string, memMiB int) Size {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", machine, "-accel", "tcg", "-smp", smp,
		"-m", strconv.Itoa(memMiB), "-kernel", elf,
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nodefaults")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var seen strings.Builder
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		seen.WriteString(line)
		if s := ParseSizes(line); len(s) == 1 {
			return s[0]
		}
		if err != nil {
			t.Fatalf("-M %s -smp %s: no %s line (%v); console %q; stderr %s", machine, smp, SizeMarker, err, seen.String(), stderr.String())
		}
	}
}
