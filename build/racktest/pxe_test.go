package racktest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/netboot"
	"github.com/ironvisor/ironvisor/build/rack"
)

// TestAppliancePXE boots the appliance the way a rack network-boots a
// server: firmware (SeaBIOS), the NIC's iPXE ROM, DHCP and TFTP from QEMU's
// user network, an iPXE script, then the same kernel and initramfs.
func TestAppliancePXE(t *testing.T) {
	t.Parallel()
	set := artefactsOrSkip(t)
	tftp := filepath.Join(t.TempDir(), "tftp")
	err := netboot.WriteTFTP(tftp, netboot.Options{
		Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
		Cmdline: "console=ttyS0 ironvisor.hostname=rack-pxe",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	o := rack.Options{Name: "pxe", MemoryMiB: 1024, CPUs: 1, LogDir: t.TempDir()}
	o.NetBoot(tftp, netboot.ScriptName)
	srv, err := rack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	start := time.Now()
	if err := srv.Console.Expect(ctx, "Ironvisor network boot"); err != nil {
		t.Fatalf("iPXE did not run the script: %v", err)
	}
	t.Logf("pxe: iPXE script running after %.1fs", time.Since(start).Seconds())
	m, err := srv.Console.ExpectRegexp(ctx, readyLine)
	if err != nil {
		t.Fatalf("pxe: no banner: %v", err)
	}
	t.Logf("pxe: IRONVISOR READY after %.1fs from QEMU start (API inside: %s)", time.Since(start).Seconds(), m[1])
	doc := getHost(ctx, t, srv)
	if doc.Hostname != "rack-pxe" || !doc.KVM.Works || doc.KVM.Kind != "SVM" {
		t.Errorf("host = %q, kvm %+v; want rack-pxe with working SVM", doc.Hostname, doc.KVM)
	}
}
