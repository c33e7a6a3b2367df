package qcow2

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAgainstQemuImg converts a raw disk to qcow2 with qemu-img in several
// forms (v2, v3, compressed with deflate and zstd, big clusters) and checks
// that WriteRaw gives back the raw disk, byte for byte, as `qemu-img
// convert -O raw` does. It prints SKIP when qemu-img is not installed.
func TestAgainstQemuImg(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("SKIP: qemu-img not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	want := sampleRaw(t, raw)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"v2", []string{"-o", "compat=0.10"}},
		{"v3", []string{"-o", "compat=1.1"}},
		{"v3-2M-clusters", []string{"-o", "compat=1.1,cluster_size=2M"}},
		{"v2-deflate", []string{"-c", "-o", "compat=0.10"}},
		{"v3-deflate-4k", []string{"-c", "-o", "compat=1.1,cluster_size=4k"}},
		{"v3-zstd", []string{"-c", "-o", "compat=1.1,compression_type=zstd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := filepath.Join(dir, tc.name+".qcow2")
			args := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, tc.args...)
			if out, err := exec.Command(qemuImg, append(args, raw, q)...).CombinedOutput(); err != nil {
				if tc.name == "v3-zstd" {
					t.Skipf("SKIP: qemu-img without zstd: %s", out)
				}
				t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
			}
			got := convertFile(t, q, filepath.Join(dir, tc.name+".out"))
			if !bytes.Equal(got, want) {
				t.Fatal("WriteRaw output differs from the raw disk qemu-img converted")
			}
			back := filepath.Join(dir, tc.name+".qemu.raw")
			if out, err := exec.Command(qemuImg, "convert", "-O", "raw", q, back).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert -O raw: %v\n%s", err, out)
			}
			if b, _ := os.ReadFile(back); !bytes.Equal(got, b) {
				t.Fatal("WriteRaw output differs from qemu-img convert -O raw")
			}
		})
	}
}

// sampleRaw writes a 6 MiB raw disk with random and patterned extents
// between holes, unaligned to clusters, and returns its bytes.
func sampleRaw(t *testing.T, path string) []byte {
	b := make([]byte, 6<<20+512)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, r := range [][2]int{{0, 4096}, {70000, 200000}, {3 << 20, 3<<20 + 1<<20}, {6 << 20, 6<<20 + 300}} {
		for i := r[0]; i < r[1]; i++ {
			if i%3 == 0 {
				b[i] = byte(rng.Uint32())
			} else {
				b[i] = byte(i / 7)
			}
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// convertFile opens the qcow2 at src, writes it raw to dst and returns it.
func convertFile(t *testing.T, src, dst string) []byte {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := img.WriteRaw(context.Background(), out, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
