package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/build/kernels"
)

// kernelFlags are the flags shared by commands that need kernels.
type kernelFlags struct {
	cache string
}

// register adds the flags to fs.
func (k *kernelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.cache, "cache", ".cache/kernels", "kernel cache folder (git-ignored)")
}

// get returns the host and guest kernels, fetching them if needed.
func (k *kernelFlags) get(ctx context.Context) (host, guest kernels.Kernel, err error) {
	dir, err := filepath.Abs(k.cache)
	if err != nil {
		return host, guest, err
	}
	c := &kernels.Cache{Dir: dir, Log: logf}
	if host, err = c.Get(ctx, kernels.HostMeta); err != nil {
		return host, guest, err
	}
	if guest, err = c.Get(ctx, kernels.GuestMeta); err != nil {
		return host, guest, err
	}
	return host, guest, nil
}

// runKernels implements `ivbuild kernels`.
func runKernels(args []string) int {
	fs := flag.NewFlagSet("kernels", flag.ExitOnError)
	var kf kernelFlags
	kf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild kernels [-cache DIR]\n\nDownloads linux-image-amd64 (host) and linux-image-cloud-amd64 (guest)\nwith apt-get download, unpacks them with dpkg-deb into DIR/RELEASE, and\nprints the versions used. A cached release is not downloaded again.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	host, guest, err := kf.get(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild kernels:", err)
		return 1
	}
	fmt.Printf("host kernel:  %s\n  %s\n", host, host.Vmlinuz())
	fmt.Printf("guest kernel: %s\n  %s\n", guest, guest.Vmlinuz())
	return 0
}
