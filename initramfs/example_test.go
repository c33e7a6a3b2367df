package initramfs_test

import (
	"bytes"
	"fmt"

	"github.com/ironvisor/ironvisor/initramfs"
)

// A test overlay: a busybox /init plus a guest file. Booted after the
// appliance image (rack.Options.Initrds = {appliance, overlay}), its /init
// replaces the appliance's.
func ExampleBuilder() {
	b := initramfs.New()
	err := b.Add(
		initramfs.File("/init", 0o755, []byte("#!/bin/busybox sh\necho hello\n")),
		initramfs.Symlink("/bin/sh", "/bin/busybox"),
		initramfs.File("/guest/cmdline", 0o644, []byte("console=ttyS0\n")),
	)
	if err != nil {
		panic(err)
	}
	// In a test: b.WriteFile(filepath.Join(t.TempDir(), "overlay.cpio"), initramfs.None),
	// and b.Add(initramfs.HostFile("/bin/busybox", 0o755, "/bin/busybox")).
	var buf bytes.Buffer
	if err := b.Write(&buf, initramfs.None); err != nil {
		panic(err)
	}
	entries, err := initramfs.Read(&buf)
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Kind, e.Path)
	}
	// Output:
	// dir /bin
	// symlink /bin/sh
	// dir /guest
	// file /guest/cmdline
	// file /init
}
