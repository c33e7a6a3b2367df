package guestinitrd

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/initramfs"
)

// fakeBusybox writes a stand-in busybox; only its bytes are packed.
func fakeBusybox(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// read returns the archive at path by entry path.
func read(t *testing.T, path string) map[string]initramfs.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", path, err)
	}
	entries, err := initramfs.Read(z)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]initramfs.Entry{}
	for _, e := range entries {
		out[e.Path] = e
	}
	return out
}

func TestWriteWithoutModules(t *testing.T) {
	p := filepath.Join(t.TempDir(), "initrd.gz")
	init := "#!/bin/busybox sh\necho hi\n"
	err := Write(p, Spec{Init: init, Busybox: fakeBusybox(t),
		Files: []initramfs.Entry{initramfs.File("/etc/x", 0o644, []byte("x"))}})
	if err != nil {
		t.Fatal(err)
	}
	have := read(t, p)
	for _, want := range []string{"/dev/console", "/bin/busybox", "/init", "/proc", "/sys", "/dev", "/tmp", "/mnt", "/etc/x"} {
		if _, ok := have[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	// Reproducible: the same spec gives the same bytes.
	q := filepath.Join(t.TempDir(), "again.gz")
	if err := Write(q, Spec{Init: init, Busybox: fakeBusybox(t),
		Files: []initramfs.Entry{initramfs.File("/etc/x", 0o644, []byte("x"))}}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(q)
	if !bytes.Equal(a, b) {
		t.Error("two writes of one spec differ")
	}
}

func TestWriteRefuses(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "x"), Spec{}); !errors.Is(err, ErrNoInit) {
		t.Errorf("no init: %v", err)
	}
}

// TestModulesOfTheGuestKernel packs virtio_net from the artefacts' guest
// kernel: its dependencies come along, and an unknown name is refused.
func TestModulesOfTheGuestKernel(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := set.GuestKernel
	p := filepath.Join(t.TempDir(), "initrd.gz")
	if err := Write(p, Spec{Init: "#!/bin/busybox sh\n", Busybox: fakeBusybox(t), Kernel: k,
		Modules: []string{"virtio_mmio", "virtio-net"}}); err != nil {
		t.Fatal(err)
	}
	have := read(t, p)
	base := "/lib/modules/" + k.Release + "/"
	if _, ok := have[base+"modules.dep"]; !ok {
		t.Error("modules.dep missing")
	}
	for _, m := range []string{"virtio_mmio.ko", "virtio_net.ko", "net_failover.ko"} {
		found := false
		for p := range have {
			found = found || (strings.HasPrefix(p, base) && strings.HasSuffix(p, "/"+m))
		}
		if !found {
			t.Errorf("%s missing", m)
		}
	}
	err = Write(p, Spec{Init: "#!/bin/busybox sh\n", Busybox: fakeBusybox(t), Kernel: k, Modules: []string{"no_such_module_xyz"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_module_xyz") {
		t.Errorf("unknown module: %v", err)
	}
}
