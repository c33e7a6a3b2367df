package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadNamed reads regular files of sizes around the buffer edges whole
// into one buffer of their size plus one byte, and a pipe named fd:N
// (which has no size) whole.
func TestReadNamed(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 100_000} {
		want := bytes.Repeat([]byte{byte(n)}, n)
		p := filepath.Join(dir, fmt.Sprint(n))
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readNamed(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("readNamed(%d-byte file) = %d bytes, %v", n, len(got), err)
		}
		if cap(got) != n+1 {
			t.Errorf("readNamed(%d-byte file): buffer of %d bytes, want one of %d", n, cap(got), n+1)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := bytes.Repeat([]byte("pipe"), 5000)
	go func() {
		w.Write(want)
		w.Close()
	}()
	fd, err := syscall.Dup(int(r.Fd())) // readNamed closes what it opens
	if err != nil {
		t.Fatal(err)
	}
	got, err := readNamed(fmt.Sprintf("fd:%d", fd))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("readNamed(pipe) = %d bytes, %v; want %d", len(got), err, len(want))
	}
}
