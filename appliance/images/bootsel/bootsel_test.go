package bootsel

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/images/ext4"
	"github.com/ironvisor/ironvisor/appliance/images/gpt"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
)

const (
	testUUID = "11111111-2222-4333-8444-555555555555"
	fstab    = "LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\n"
)

// fsImage makes a small ext4 image of entries with a known UUID and label.
func fsImage(t testing.TB, entries []imagetest.Entry) []byte {
	return imagetest.Mkfs(t, "256K", entries, "-t", "ext4", "-O", "^has_journal", "-b", "1024",
		"-N", "64", "-U", testUUID, "-L", "cloudimg-rootfs")
}

// disk lays fs images out as partitions after a BIOS boot partition and an
// ESP, like a cloud image: each image gets the type in types.
func disk(types []gpt.GUID, fss ...[]byte) []byte {
	parts := []imagetest.Part{
		{Index: 14, Type: gpt.TypeBIOSBoot, First: 34, Last: 41},
		{Index: 15, Type: gpt.TypeESP, First: 42, Last: 99, Name: "UEFI"},
	}
	next := uint64(100)
	for i, fs := range fss {
		n := uint64(len(fs)+511) / 512
		idx := 1
		if i > 0 {
			idx = 15 + i
		}
		parts = append(parts, imagetest.Part{Index: idx, Type: types[i], First: next, Last: next + n - 1, Data: fs})
		next += n
	}
	return imagetest.GPTDisk(512, next+34, parts)
}

// debianTree is a Debian cloud image's root: symlinks at / to /boot.
func debianTree() []imagetest.Entry {
	return []imagetest.Entry{
		{Path: "etc/fstab", Data: fstab},
		{Path: "boot/vmlinuz-6.1.0-28-cloud-amd64", Data: "KERNEL-28"},
		{Path: "boot/initrd.img-6.1.0-28-cloud-amd64", Data: "INITRD-28"},
		{Path: "boot/vmlinuz-6.1.0-9-cloud-amd64", Data: "KERNEL-9"},
		{Path: "boot/initrd.img-6.1.0-9-cloud-amd64", Data: "INITRD-9"},
		{Path: "vmlinuz", Symlink: "boot/vmlinuz-6.1.0-9-cloud-amd64"},
		{Path: "initrd.img", Symlink: "/boot/initrd.img-6.1.0-9-cloud-amd64"},
	}
}

// find runs Find on d or fails the test.
func find(t *testing.T, d []byte) *Boot {
	t.Helper()
	b, err := Find(bytes.NewReader(d), int64(len(d)), Options{})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	return b
}

// contents reads all of f.
func contents(t *testing.T, f *ext4.File) string {
	t.Helper()
	if f == nil {
		return ""
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDebianLayoutPrefersTheSymlinks(t *testing.T) {
	b := find(t, disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(t, debianTree())))
	// The symlinks name the older kernel: they win over "newest".
	if got := contents(t, b.Kernel); got != "KERNEL-9" {
		t.Errorf("kernel %q", got)
	}
	if got := contents(t, b.Initrd); got != "INITRD-9" {
		t.Errorf("initrd %q", got)
	}
	if b.KernelPath != "/boot/vmlinuz-6.1.0-9-cloud-amd64" || b.InitrdPath != "/boot/initrd.img-6.1.0-9-cloud-amd64" {
		t.Errorf("paths %q %q", b.KernelPath, b.InitrdPath)
	}
	if b.RootPartition != 1 || b.Root != "UUID="+testUUID || b.RootLabel != "cloudimg-rootfs" {
		t.Errorf("root partition %d root %q label %q", b.RootPartition, b.Root, b.RootLabel)
	}
	if b.Cmdline != "root=UUID="+testUUID+" "+DefaultCmdline {
		t.Errorf("cmdline %q", b.Cmdline)
	}
}

func TestNewestVersionWithoutSymlinks(t *testing.T) {
	var tree []imagetest.Entry
	for _, e := range debianTree() {
		if e.Symlink == "" {
			tree = append(tree, e)
		}
	}
	b := find(t, disk([]gpt.GUID{gpt.TypeLinuxRootX86_64}, fsImage(t, tree)))
	if contents(t, b.Kernel) != "KERNEL-28" || contents(t, b.Initrd) != "INITRD-28" {
		t.Errorf("kernel %q initrd %q, want the 6.1.0-28 pair", contents(t, b.Kernel), contents(t, b.Initrd))
	}
}

func TestSeparateBootPartition(t *testing.T) {
	// Ubuntu 24.04: /boot is partition 16 (XBOOTLDR) with vmlinuz and
	// initrd.img symlinks at its top; the root's /boot is empty.
	root := fsImage(t, []imagetest.Entry{{Path: "etc/fstab", Data: fstab}, {Path: "boot", Dir: true}})
	boot := imagetest.Mkfs(t, "256K", []imagetest.Entry{
		{Path: "vmlinuz-6.8.0-31-generic", Data: "UBUNTU-KERNEL"},
		{Path: "initrd.img-6.8.0-31-generic", Data: "UBUNTU-INITRD"},
		{Path: "vmlinuz", Symlink: "vmlinuz-6.8.0-31-generic"},
		{Path: "initrd.img", Symlink: "initrd.img-6.8.0-31-generic"},
	}, "-t", "ext4", "-O", "^has_journal", "-b", "1024", "-L", "BOOT")
	b := find(t, disk([]gpt.GUID{gpt.TypeLinuxFilesystem, gpt.TypeLinuxXBOOTLDR}, root, boot))
	if contents(t, b.Kernel) != "UBUNTU-KERNEL" || contents(t, b.Initrd) != "UBUNTU-INITRD" || b.RootPartition != 1 {
		t.Errorf("kernel %q initrd %q root %d", contents(t, b.Kernel), contents(t, b.Initrd), b.RootPartition)
	}
}

func TestBareFileSystemAndOptions(t *testing.T) {
	fs := fsImage(t, debianTree())
	b, err := Find(bytes.NewReader(fs), int64(len(fs)), Options{Cmdline: "console=hvc0"})
	if err != nil {
		t.Fatal(err)
	}
	if b.RootPartition != 0 || !strings.HasSuffix(b.Cmdline, " console=hvc0") {
		t.Errorf("root partition %d cmdline %q", b.RootPartition, b.Cmdline)
	}
	if _, err := Find(bytes.NewReader(fs), int64(len(fs)), Options{MaxKernel: 4}); !errors.Is(err, ErrNotFound) {
		t.Errorf("kernel over the limit: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	noKernel := disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(t, []imagetest.Entry{{Path: "etc/fstab", Data: fstab}}))
	dangling := disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(t, []imagetest.Entry{
		{Path: "etc/fstab", Data: fstab}, {Path: "vmlinuz", Symlink: "boot/gone"}}))
	noRoot := disk([]gpt.GUID{gpt.TypeLinuxFilesystem}, fsImage(t, []imagetest.Entry{{Path: "data", Data: "x"}}))
	for name, d := range map[string][]byte{
		"no kernel": noKernel, "dangling symlink": dangling, "no root": noRoot,
		"zeros": make([]byte, 1<<20), "tiny": {1, 2, 3},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Find(bytes.NewReader(d), int64(len(d)), Options{}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Find = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"6.1.0-28-cloud-amd64", "6.1.0-9-cloud-amd64", 1},
		{"6.8.0-31-generic", "6.8.0-31-generic", 0},
		{"5.10.0-30-cloud-amd64", "6.1.0-9-cloud-amd64", -1},
		{"6.1.0-28-cloud-amd64", "6.1.0-28", 1},
		{"6.1.010", "6.1.9", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	vs := []string{"6.1.0-9", "6.1.0-28", "5.10.0-1"}
	sortVersions(vs)
	if vs[0] != "6.1.0-28" || vs[2] != "5.10.0-1" {
		t.Errorf("sorted %v", vs)
	}
}
