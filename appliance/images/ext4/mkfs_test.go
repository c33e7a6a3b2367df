package ext4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Names in the sample tree, as a Debian cloud image lays them out.
const (
	kernelName = "vmlinuz-6.1.0-28-cloud-amd64"
	initrdName = "initrd.img-6.1.0-28-cloud-amd64"
	testUUID   = "5b0a8e4b-3c1d-4e2f-9a7b-0123456789ab"
	testLabel  = "cloudimg-rootfs"
	fstab      = "PARTUUID=abc / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\n"
)

// content returns n bytes of a pattern unique to seed.
func content(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i/509)
	}
	return b
}

// sampleTree writes the tree the tests read back into dir and returns the
// sparse file's contents.
func sampleTree(t testing.TB, dir string) []byte {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"boot", "etc/many", "usr/lib"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(dir, "boot", kernelName), content(1, 300_000), 0o644))
	must(os.WriteFile(filepath.Join(dir, "boot", initrdName), content(2, 500_001), 0o644))
	must(os.WriteFile(filepath.Join(dir, "etc/fstab"), []byte(fstab), 0o644))
	must(os.Symlink("boot/"+kernelName, filepath.Join(dir, "vmlinuz")))
	must(os.Symlink("/boot/"+initrdName, filepath.Join(dir, "initrd.img")))
	// A slow symlink: its target does not fit in i_block's 60 bytes.
	long := "/usr/../etc/./../usr/lib/../../boot/./././././././././" + kernelName
	must(os.Symlink(long, filepath.Join(dir, "etc/long")))
	must(os.Symlink("loop2", filepath.Join(dir, "loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "loop2")))
	must(os.Symlink("../../../../../boot", filepath.Join(dir, "usr/lib/up")))
	for i := range 300 {
		name := fmt.Sprintf("file-with-a-long-name-to-fill-blocks-%03d", i)
		must(os.WriteFile(filepath.Join(dir, "etc/many", name), []byte(name), 0o644))
	}
	// A sparse file with ten separate data runs: more extents than the
	// inode's four slots, so its extent tree has depth 1.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	defer f.Close()
	want := make([]byte, 10*65536)
	for i := range 10 {
		chunk := content(10+i, 4096)
		copy(want[i*65536:], chunk)
		_, err := f.WriteAt(chunk, int64(i)*65536)
		must(err)
	}
	return want[:9*65536+4096]
}

// mkfs makes a file system image of the sample tree with the given
// mke2fs options, runs fsck -D (which builds htree directories), and
// returns it and the sparse file's expected contents.
func mkfs(t testing.TB, opts ...string) ([]byte, []byte) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("SKIP: mkfs.ext4 not installed (e2fsprogs)")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	want := sampleTree(t, tree)
	img := filepath.Join(dir, "fs.img")
	args := append([]string{"-q", "-F", "-L", testLabel, "-U", testUUID, "-d", tree}, opts...)
	args = append(args, img, "16M")
	if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs %v: %v\n%s", args, err, out)
	}
	if out, err := exec.Command("e2fsck", "-fyD", img).CombinedOutput(); err != nil {
		// Exit code 1 means "file system modified" (the -D rebuild).
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b, want
}

// variants are the layouts the reader must handle.
var variants = []struct {
	name string
	opts []string
}{
	{"ext4", []string{"-t", "ext4"}},
	{"ext4-32bit", []string{"-t", "ext4", "-O", "^64bit"}},
	{"ext4-1k", []string{"-t", "ext4", "-b", "1024"}},
	{"ext4-meta_bg", []string{"-t", "ext4", "-O", "meta_bg,^resize_inode", "-b", "1024"}},
	{"ext4-no-csum", []string{"-t", "ext4", "-O", "^metadata_csum,^64bit"}},
	{"ext3-blockmap", []string{"-t", "ext3"}},
}

func TestReadMkfsImages(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			img, sparse := mkfs(t, v.opts...)
			fs, err := Open(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			checkSample(t, fs, sparse)
		})
	}
}

// checkSample reads everything sampleTree wrote back from fs.
func checkSample(t *testing.T, fs *FS, sparse []byte) {
	t.Helper()
	if fs.Label() != testLabel || fs.UUID() != testUUID {
		t.Errorf("label %q uuid %q", fs.Label(), fs.UUID())
	}
	files := map[string][]byte{
		"/boot/" + kernelName:       content(1, 300_000),
		"/boot/" + initrdName:       content(2, 500_001),
		"/vmlinuz":                  content(1, 300_000),
		"initrd.img":                content(2, 500_001),
		"/etc/long":                 content(1, 300_000),
		"/usr/lib/up/" + kernelName: content(1, 300_000),
		"/etc/fstab":                []byte(fstab),
		"/etc/many/file-with-a-long-name-to-fill-blocks-299": []byte("file-with-a-long-name-to-fill-blocks-299"),
		"/sparse": sparse,
	}
	for name, want := range files {
		got, err := fs.ReadFile(name, 1<<20)
		if err != nil {
			t.Errorf("ReadFile(%s): %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%s): %d bytes differ from the %d written", name, len(got), len(want))
		}
	}
	if p, err := fs.Realpath("/etc/long"); err != nil || p != "/boot/"+kernelName {
		t.Errorf("Realpath(/etc/long) = %q, %v", p, err)
	}
	if target, err := fs.Readlink("/vmlinuz"); err != nil || target != "boot/"+kernelName {
		t.Errorf("Readlink(/vmlinuz) = %q, %v", target, err)
	}
	if fi, err := fs.Lstat("/initrd.img"); err != nil || fi.Type != TypeSymlink {
		t.Errorf("Lstat(/initrd.img) = %+v, %v", fi, err)
	}
	if _, err := fs.ReadFile("/loop1", 100); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("symlink loop: %v", err)
	}
	if _, err := fs.ReadFile("/boot/"+kernelName, 1000); err == nil {
		t.Error("ReadFile ignored its size limit")
	}
	if _, err := fs.ReadFile("/boot/nope", 1000); err == nil {
		t.Error("a missing file was found")
	}
	many, err := fs.ReadDir("/etc/many")
	if err != nil || len(many) != 300 {
		t.Errorf("ReadDir(/etc/many) = %d entries, %v", len(many), err)
	}
	boot, err := fs.ReadDir("/boot")
	if err != nil || len(boot) < 2 {
		t.Errorf("ReadDir(/boot) = %v, %v", boot, err)
	}
}

// TestMkfsImagesExerciseTheHardCases checks that the sample images really
// hold what the reader is tested on: an extent tree of depth > 0 and an
// htree (indexed) directory.
func TestMkfsImagesExerciseTheHardCases(t *testing.T) {
	img, _ := mkfs(t, "-t", "ext4")
	fs, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := fs.walk("/sparse", true)
	if err != nil {
		t.Fatal(err)
	}
	if depth := binary.LittleEndian.Uint16(in.block[6:]); depth == 0 {
		t.Error("/sparse has an extent tree of depth 0")
	}
	dir, _, err := fs.walk("/etc/many", true)
	if err != nil {
		t.Fatal(err)
	}
	const indexFlag = 0x1000 // EXT4_INDEX_FL
	if dir.flags&indexFlag == 0 {
		t.Error("/etc/many is not an htree directory")
	}
}
