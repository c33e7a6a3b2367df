package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/build/cloudimage"
)

// runCloudImage implements `ivbuild cloudimage`.
func runCloudImage(args []string) int {
	fs := flag.NewFlagSet("cloudimage", flag.ExitOnError)
	dir := fs.String("dir", ".cache/images/debian-12-cloud", "folder of the image and its parts (git-ignored)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild cloudimage [-dir DIR]\n\nBuilds (as root, with debootstrap and mke2fs) a Debian 12 disk image in the\nlayout of Debian's genericcloud image into DIR/disk.raw, the same disk as a\ncompressed qcow2 in DIR/disk.qcow2 (to import into the appliance), and the\nimage's own kernel and initrd beside it, and prints the paths. A finished\nimage is reused.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild cloudimage:", err)
		return 1
	}
	if _, ok := cloudimage.Cached(abs); !ok {
		logf("cloudimage: building %s (debootstrap %s, some minutes)", abs, cloudimage.DefaultSuite)
	}
	img, err := cloudimage.Build(context.Background(), cloudimage.Options{Dir: abs, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild", err)
		return 1
	}
	fmt.Printf("disk %s\nqcow2 %s\nkernel %s\ninitrd %s\n", img.Disk, img.Qcow2, img.Kernel, img.Initrd)
	return 0
}
