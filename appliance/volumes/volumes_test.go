package volumes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/volumes/btrfstest"
)

// sparseImage writes a 64 MiB image with 1 MiB of data at 0, 4 KiB at
// 32 MiB, an explicitly written 1 MiB of zeros at 40 MiB and a hole
// elsewhere, and returns its path and content.
func sparseImage(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	want := make([]byte, 64<<20)
	for i := range 1 << 20 {
		want[i] = byte(i*7 + 1)
	}
	copy(want[32<<20:], bytes.Repeat([]byte("ironvisor"), 455))
	p := filepath.Join(dir, "image.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range [][2]int{{0, 1 << 20}, {32 << 20, 32<<20 + 4096}, {40 << 20, 41 << 20}} {
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(want))); err != nil {
		t.Fatal(err)
	}
	return p, want
}

// allocated returns the bytes the file at p has allocated on disk.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func checkSame(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: content differs from the image (len %d, want %d)", p, len(got), len(want))
	}
}

func TestSparseCopyKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	img, want := sparseImage(t, dir)
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dstPath := filepath.Join(dir, "vol.raw")
	dst, err := os.Create(dstPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := copySparse(dst, src, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if err := dst.Truncate(int64(len(want))); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	checkSame(t, dstPath, want)
	// 1 MiB + 4 KiB of data; the written zeros and the holes take nothing.
	// Allow for filesystem block rounding and metadata.
	got := allocated(t, dstPath)
	t.Logf("volume: size %d, allocated %d (image allocated %d)", len(want), got, allocated(t, img))
	if got < 1<<20 || got > 1<<20+256<<10 {
		t.Fatalf("allocated %d bytes, want about 1 MiB + 4 KiB", got)
	}
}

func TestCreateVolume(t *testing.T) {
	dir := t.TempDir()
	img, want := sparseImage(t, dir)
	dst := filepath.Join(dir, "i-1.raw")
	method, err := Create(img, dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("method %s, allocated %d", method, allocated(t, dst))
	checkSame(t, dst, want)
	if method == Sparse && allocated(t, dst) > 2<<20 {
		t.Fatalf("sparse volume allocated %d bytes", allocated(t, dst))
	}
	if err := CreateVolume(img, dst); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("directory holds %d entries, want image and volume only", len(ents))
	}
	if err := DeleteVolume(dst); err != nil {
		t.Fatal(err)
	}
	if err := DeleteVolume(dst); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume still there: %v", err)
	}
}

func TestCreateVolumeMissingImageLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := CreateVolume(filepath.Join(dir, "nope"), filepath.Join(dir, "vol")); err == nil {
		t.Fatal("copy of a missing image succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %d entries", len(ents))
	}
}

// TestReflink checks that Create shares extents where the filesystem can.
// It uses IRONVISOR_REFLINK_DIR when set, else the test's temporary folder
// when that reflinks, else (as root) a btrfs image mounted over a loop
// device, so it runs for real on an ext4 host too.
func TestReflink(t *testing.T) {
	dir := reflinkDir(t)
	img, want := sparseImage(t, dir)
	if err := tryClone(img, filepath.Join(dir, "probe")); err != nil {
		t.Fatalf("%s cannot reflink: %v", dir, err)
	}
	dst := filepath.Join(dir, "vol.raw")
	defer os.Remove(dst)
	method, err := Create(img, dst)
	if err != nil {
		t.Fatal(err)
	}
	if method != Reflink {
		t.Fatalf("method %s on a filesystem that reflinks", method)
	}
	checkSame(t, dst, want)
}

// tryClone clones src to dst with FICLONE and removes dst again.
func tryClone(src, dst string) error {
	d, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer os.Remove(dst)
	defer d.Close()
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	return unix.IoctlFileClone(int(d.Fd()), int(s.Fd()))
}

// reflinkDir returns a folder on a filesystem that can reflink.
func reflinkDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("IRONVISOR_REFLINK_DIR"); d != "" {
		return d
	}
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe-src")
	if err := os.WriteFile(probe, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := tryClone(probe, filepath.Join(dir, "probe-dst"))
	os.Remove(probe)
	if err == nil {
		return dir
	}
	t.Logf("%s cannot reflink (%v): using a btrfs image", dir, err)
	return btrfstest.Mount(t, 256<<20)
}

// TestCreateSizeGrowsSparsely: a volume larger than its image ends in a
// hole, and a smaller size changes nothing.
func TestCreateSizeGrowsSparsely(t *testing.T) {
	dir := t.TempDir()
	img, want := sparseImage(t, dir)
	dst := filepath.Join(dir, "big.raw")
	size := int64(len(want)) + 1<<30
	if _, err := CreateSize(img, dst, size); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Size() != size {
		t.Fatalf("volume size %v %v, want %d", fi.Size(), err, size)
	}
	if a := allocated(t, dst); a > int64(len(want)) {
		t.Fatalf("grown volume allocates %d bytes", a)
	}
	small := filepath.Join(dir, "small.raw")
	if _, err := CreateSize(img, small, 1); err != nil {
		t.Fatal(err)
	}
	checkSame(t, small, want)
}
