package netboot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTFTP(t *testing.T) {
	src := t.TempDir()
	k, i := filepath.Join(src, "k"), filepath.Join(src, "i")
	os.WriteFile(k, []byte("kernel"), 0o644)
	os.WriteFile(i, []byte("initrd"), 0o644)
	dir := filepath.Join(t.TempDir(), "tftp")
	if err := WriteTFTP(dir, Options{Kernel: k, Initrds: []string{i, i}, Cmdline: "console=ttyS0 a=b"}); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(dir, ScriptName))
	if err != nil {
		t.Fatal(err)
	}
	want := "#!ipxe\necho Ironvisor network boot\nkernel vmlinuz console=ttyS0 a=b\ninitrd initrd0\ninitrd initrd1\nboot\n"
	if string(script) != want {
		t.Errorf("script:\n%s\nwant:\n%s", script, want)
	}
	for name, content := range map[string]string{"vmlinuz": "kernel", "initrd0": "initrd", "initrd1": "initrd"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != content {
			t.Errorf("%s = %q, %v; want %q", name, got, err, content)
		}
	}
	if err := WriteTFTP(dir, Options{}); err == nil {
		t.Error("WriteTFTP without a kernel succeeded")
	}
}
