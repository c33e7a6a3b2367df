package gotest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/initramfs"
)

// QEMUEntries returns the host's qemu-system-x86_64, the shared libraries
// ldd lists for it, and the firmware microvm needs, as entries of a rack
// server's initramfs, for benchmarks that run QEMU inside L1 beside the
// VMM. It skips t, with the reason, where the host has no QEMU.
func QEMUEntries(t testing.TB) []initramfs.Entry {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skipf("SKIP: no qemu-system-x86_64: %v", err)
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	es := []initramfs.Entry{initramfs.HostFile("/usr/bin/qemu-system-x86_64", 0o755, bin)}
	for _, line := range strings.Split(string(out), "\n") {
		// "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)".
		f := strings.Fields(line)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatalf("library %s: %v", lib, err)
		}
		es = append(es, initramfs.HostFile(lib, 0o755, real))
	}
	for _, fw := range []string{"bios-microvm.bin", "linuxboot_dma.bin", "kvmvapic.bin", "pvh.bin"} {
		es = append(es, initramfs.HostFile("/usr/share/qemu/"+fw, 0o644, "/usr/share/qemu/"+fw))
	}
	return es
}
