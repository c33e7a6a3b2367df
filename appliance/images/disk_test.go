package images

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// rootUUID is the test root file system's UUID.
const rootUUID = imagetest.CloudRootUUID

// cloudDisk returns imagetest.CloudDisk with a PVH ELF kernel, which the
// image store's kernel check accepts, and the kernel.
func cloudDisk(t *testing.T) (disk, kernel []byte) {
	t.Helper()
	kernel = testutil.PVHHello("hi", testutil.ExitReset)
	return imagetest.CloudDisk(t, kernel), kernel
}

// qemuImg runs qemu-img, skipping the test when it is not installed.
func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("SKIP: qemu-img not installed (apt-get install qemu-utils)")
	}
	if out, err := exec.Command(p, args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
}

// toQcow2 converts raw to a qcow2 file with qemu-img and returns its
// bytes; extra options (e.g. "-c" to compress) go before the files.
func toQcow2(t *testing.T, raw []byte, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.qcow2")
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, extra...), in, out)
	qemuImg(t, args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploadDisk uploads disk alone as image name.
func uploadDisk(s *Store, name string, disk []byte) (Image, error) {
	return upload(s, name, map[string][]byte{PartDisk: disk})
}

// checkDiskImage checks that img was made from the cloud disk raw.
func checkDiskImage(t *testing.T, s *Store, img Image, raw, kernel []byte, format string) {
	t.Helper()
	if img.Source == nil || img.Source.Format != format || img.Boot == nil {
		t.Fatalf("image %+v: want a %s source and a boot", img, format)
	}
	if img.Boot.KernelPath != imagetest.CloudKernelPath || img.Boot.Root != "UUID="+rootUUID || img.Boot.RootPartition != 1 {
		t.Errorf("boot %+v", img.Boot)
	}
	if !strings.HasPrefix(img.Cmdline, "root=UUID="+rootUUID+" ") || !strings.HasSuffix(img.Cmdline, " console=ttyS0") {
		t.Errorf("cmdline %q", img.Cmdline)
	}
	if img.KernelFormat != "pvh" || img.Initrd == nil || img.Disk == nil || img.Disk.Size != int64(len(raw)) {
		t.Fatalf("image %+v", img)
	}
	for part, want := range map[string][]byte{PartKernel: kernel, PartInitrd: []byte(imagetest.CloudInitrd), PartDisk: raw} {
		got, err := os.ReadFile(s.Path(img.ID, part))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("stored %s differs from the disk's (%v)", part, err)
		}
	}
	if want := sum256(raw); img.Disk.SHA256 != want {
		t.Errorf("disk sha256 %s, want %s", img.Disk.SHA256, want)
	}
}

func TestUploadRawCloudDisk(t *testing.T) {
	s, dir := newStore(t)
	raw, kernel := cloudDisk(t)
	img, err := uploadDisk(s, "debian", raw)
	if err != nil {
		t.Fatal(err)
	}
	checkDiskImage(t, s, img, raw, kernel, FormatRaw)
	if img.Source.SHA256 != sum256(raw) || img.Source.Size != int64(len(raw)) {
		t.Errorf("source %+v", img.Source)
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != img.ID {
		t.Errorf("images directory holds %v", got)
	}
}

func TestUploadQcow2CloudDisk(t *testing.T) {
	raw, kernel := cloudDisk(t)
	for name, opts := range map[string][]string{
		"v3":            {"-o", "compat=1.1"},
		"v2":            {"-o", "compat=0.10"},
		"v3-compressed": {"-c", "-o", "compat=1.1,cluster_size=4k"},
		"v2-compressed": {"-c", "-o", "compat=0.10"},
	} {
		t.Run(name, func(t *testing.T) {
			s, dir := newStore(t)
			q := toQcow2(t, raw, opts...)
			img, err := uploadDisk(s, "debian", q)
			if err != nil {
				t.Fatal(err)
			}
			checkDiskImage(t, s, img, raw, kernel, FormatQcow2)
			if img.Source.SHA256 != sum256(q) || img.Source.Size != int64(len(q)) {
				t.Errorf("source %+v, want the qcow2's size and digest", img.Source)
			}
			fi, err := os.Stat(s.Path(img.ID, PartDisk))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys(); st != nil && allocated(fi) >= fi.Size() {
				t.Errorf("the raw disk is not sparse: %d of %d bytes allocated", allocated(fi), fi.Size())
			}
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("images directory holds %v", got)
			}
		})
	}
}

// TestUploadDiskRefusals checks each refusal of a disk image answers
// ErrInvalid with a message that says why, and leaves nothing behind.
func TestUploadDiskRefusals(t *testing.T) {
	raw, _ := cloudDisk(t)
	q := toQcow2(t, raw, "-o", "compat=1.1,cluster_size=4k")
	dir := t.TempDir()
	base, overlay := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "overlay.qcow2")
	if err := os.WriteFile(base, q, 0o600); err != nil {
		t.Fatal(err)
	}
	qemuImg(t, "create", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay)
	backed, err := os.ReadFile(overlay)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(q)
	copy(corrupt[40:48], []byte{0x7f, 0, 0, 0, 0, 0, 0, 0}) // L1 table far beyond the file
	for name, tc := range map[string]struct {
		disk []byte
		want string
	}{
		"backing file":   {backed, "backing file"},
		"truncated":      {q[:len(q)/2], "truncated or damaged"},
		"corrupt header": {corrupt, "truncated or damaged"},
		"not bootable":   {make([]byte, 1<<20), "cannot be booted"},
		"no boot files":  {raw[:len(raw)/4], "cannot be booted"},
		"xz archive":     {[]byte("\xfd7zXZ\x00rest"), "xz archive"},
	} {
		t.Run(name, func(t *testing.T) {
			s, dir := newStore(t)
			_, err := uploadDisk(s, "debian", tc.disk)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid saying %q", err, tc.want)
			}
			if got := entries(t, dir); len(got) != 0 {
				t.Errorf("left behind: %v", got)
			}
		})
	}
}

func TestUploadDiskDigest(t *testing.T) {
	s, dir := newStore(t)
	raw, _ := cloudDisk(t)
	u, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	if err := u.Add(PartDisk, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if err := u.CheckDigest(strings.Repeat("0", 64), ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("bad sha256: %v", err)
	}
	if err := u.CheckDigest("", strings.Repeat("0", 128)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sha512 mismatch") {
		t.Errorf("bad sha512: %v", err)
	}
	if err := u.CheckDigest(strings.ToUpper(sum256(raw)), sum512(raw)); err != nil {
		t.Errorf("good digests: %v", err)
	}
	u.Abort()
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
}

func TestUploadDiskWithInitrdAlone(t *testing.T) {
	s, _ := newStore(t)
	raw, _ := cloudDisk(t)
	_, err := upload(s, "x", map[string][]byte{PartDisk: raw, PartInitrd: []byte("i")})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// TestUploadQcow2BesideKernel: a qcow2 disk uploaded with a kernel is
// stored raw too, since the VMM serves raw disks.
func TestUploadQcow2BesideKernel(t *testing.T) {
	s, _ := newStore(t)
	raw, kernel := cloudDisk(t)
	q := toQcow2(t, raw, "-c")
	img, err := upload(s, "k", map[string][]byte{PartKernel: kernel, PartDisk: q})
	if err != nil {
		t.Fatal(err)
	}
	if img.Source == nil || img.Source.Format != FormatQcow2 || img.Boot != nil || img.Cmdline != "console=ttyS0" {
		t.Fatalf("image %+v", img)
	}
	got, err := os.ReadFile(s.Path(img.ID, PartDisk))
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("stored disk is not the raw disk (%v)", err)
	}
}
