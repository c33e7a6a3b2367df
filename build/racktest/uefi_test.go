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

// OVMF firmware from Debian's ovmf package (4 MiB flash layout).
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// TestApplianceUEFIDisk boots the appliance the way a server boots from its
// own disk: OVMF finds \EFI\BOOT\BOOTX64.EFI on the GPT disk's EFI system
// partition, a UKI holding the same kernel, initramfs and command line.
func TestApplianceUEFIDisk(t *testing.T) {
	t.Parallel()
	set := artefactsOrSkip(t)
	for _, p := range []string{ovmfCode, ovmfVars, disk.DefaultStub} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("SKIP: %v (apt-get install ovmf systemd-boot-efi, or run make test)", err)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	img := filepath.Join(dir, "disk.img")
	err := disk.BuildBootDisk(ctx, img, disk.UKIOptions{
		Kernel: set.HostKernel.Vmlinuz(), Initrd: set.InitramfsPath(),
		Cmdline: "console=ttyS0 ironvisor.hostname=rack-uefi",
	})
	if err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	data, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := rack.Start(ctx, rack.Options{
		Name: "uefi", MemoryMiB: 1024, CPUs: 1, LogDir: dir,
		Extra: []string{
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
			"-drive", "if=none,id=disk,format=raw,file=" + img,
			"-device", "virtio-blk-pci,drive=disk,bootindex=1",
		},
	})
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
