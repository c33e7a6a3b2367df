package racktest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/disk"
	"github.com/ironvisor/ironvisor/build/rack"
)

// TestApplianceUEFIDisk boots the appliance the way a server boots from its
// own disk: OVMF finds \EFI\BOOT\BOOTX64.EFI on the GPT disk's EFI system
// partition, a UKI holding the same kernel, initramfs and command line.
func TestApplianceUEFIDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	img := uefiDisk(ctx, t, dir, "ironvisor.hostname=rack-uefi")
	extra, err := rack.UEFIDiskArgs(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rack.Start(ctx, rack.Options{Name: "uefi", MemoryMiB: 1024, CPUs: 1, LogDir: dir, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	start := time.Now()
	m, err := srv.Console.ExpectRegexp(ctx, readyLine)
	if err != nil {
		t.Fatalf("uefi: no banner: %v", err)
	}
	t.Logf("uefi: IRONVISOR READY after %.1fs from QEMU start (API inside: %s)", time.Since(start).Seconds(), m[1])
	doc := getHost(ctx, t, srv)
	if doc.Hostname != "rack-uefi" || !doc.KVM.Works || doc.KVM.Kind != "SVM" {
		t.Errorf("host = %q, kvm %+v; want rack-uefi with working SVM", doc.Hostname, doc.KVM)
	}
}

// uefiDisk builds the UEFI disk image (build/disk) in dir from the built
// kernel and initramfs with console=ttyS0 and cmdline, and returns its
// path. It skips without OVMF or the UKI stub.
func uefiDisk(ctx context.Context, t *testing.T, dir, cmdline string) string {
	t.Helper()
	set := artefactsOrSkip(t)
	for _, p := range []string{rack.OVMFCode, rack.OVMFVars, disk.DefaultStub} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("SKIP: %v (apt-get install ovmf systemd-boot-efi, or run make test)", err)
		}
	}
	img := filepath.Join(dir, "disk.img")
	err := disk.BuildBootDisk(ctx, img, disk.UKIOptions{
		Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(), Cmdline: "console=ttyS0 " + cmdline,
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}
