package imagetest

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// CloudRootUUID is the UUID of the root file system CloudDisk makes.
const CloudRootUUID = "11111111-2222-4333-8444-555555555555"

// CloudInitrd is the initrd CloudDisk installs.
const CloudInitrd = "INITRD-28"

// CloudKernelPath is where CloudDisk installs the kernel.
const CloudKernelPath = "/boot/vmlinuz-6.1.0-28-cloud-amd64"

// Partition type GUIDs (UEFI 2.10, table 5.7; the Discoverable Partitions
// Specification), written here rather than taken from package gpt, whose
// tests import this package.
const (
	typeBIOSBoot = "21686148-6449-6E6F-744E-656564454649"
	typeESP      = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeLinuxFS  = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
)

// guid returns the on-disk form of a GUID string: the first three fields
// little-endian, the rest as written.
func guid(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("imagetest: bad GUID " + s)
	}
	var g [16]byte
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g
}

// CloudDisk returns a raw disk in the layout of Debian's genericcloud
// image: a BIOS boot partition (14) and an ESP (15), and an ext4 root on
// partition 1, labelled "root", whose /vmlinuz and /initrd.img symlinks
// point at kernel and CloudInitrd in /boot. One MiB of free space
// follows the root, as a cloud image leaves room before it is grown.
func CloudDisk(tb testing.TB, kernel []byte) []byte {
	tb.Helper()
	fs := Mkfs(tb, "1M", []Entry{
		{Path: "etc/fstab", Data: "LABEL=root / ext4 rw 0 1\n"},
		{Path: strings.TrimPrefix(CloudKernelPath, "/"), Data: string(kernel)},
		{Path: "boot/initrd.img-6.1.0-28-cloud-amd64", Data: CloudInitrd},
		{Path: "vmlinuz", Symlink: strings.TrimPrefix(CloudKernelPath, "/")},
		{Path: "initrd.img", Symlink: "boot/initrd.img-6.1.0-28-cloud-amd64"},
	}, "-t", "ext4", "-O", "^has_journal", "-b", "1024", "-N", "64", "-U", CloudRootUUID, "-L", "root")
	n := uint64(len(fs)+511) / 512
	return GPTDisk(512, 100+n+34+2048, []Part{
		{Index: 14, Type: guid(typeBIOSBoot), First: 34, Last: 41},
		{Index: 15, Type: guid(typeESP), First: 42, Last: 99, Name: "UEFI"},
		{Index: 1, Type: guid(typeLinuxFS), First: 100, Last: 100 + n - 1, Name: "root", Data: fs},
	})
}
