package racktest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// blkMiB is how much the throughput guest writes and reads.
const blkMiB = 128

// blkGuestInit is the /init of the throughput guest: load the virtio-blk
// driver, write blkMiB MiB of zeros to /dev/vda and read them back with
// O_DIRECT in 1 MiB blocks, timing each with /proc/uptime, and power off.
const blkGuestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo GUEST-INIT-OK
for m in virtio_mmio virtio_blk; do modprobe $m || echo GUEST-MODPROBE-FAILED $m; done
up() { cut -d' ' -f1 /proc/uptime; }
t0=$(up); dd if=/dev/zero of=/dev/vda bs=1M count=MIB oflag=direct 2>/tmp/err; rc=$?; t1=$(up)
echo "GUEST-BLK op=write rc=$rc t0=$t0 t1=$t1 $(cat /tmp/err | tr '\n' ' ')"
t0=$(up); dd if=/dev/vda of=/dev/null bs=1M count=MIB iflag=direct 2>/tmp/err; rc=$?; t1=$(up)
echo "GUEST-BLK op=read rc=$rc t0=$t0 t1=$t1 $(cat /tmp/err | tr '\n' ' ')"
echo GUEST-BLK-DONE
poweroff -f
`

// blkInitrd builds the throughput guest's busybox initrd with the cloud
// kernel's virtio-mmio and virtio-blk modules.
func blkInitrd(b *testing.B, set *artefacts.Set) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "blk-initrd.gz")
	err := guestinitrd.Write(path, guestinitrd.Spec{
		Init:   strings.ReplaceAll(blkGuestInit, "MIB", strconv.Itoa(blkMiB)),
		Kernel: set.GuestKernel, Modules: []string{"virtio_mmio", "virtio_blk"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// blkRounds is how many throughput boots of each VMM the benchmark
// alternates.
const blkRounds = 7

// BenchmarkVMMBlockVersusQEMU runs BenchmarkInL1Block in one L1 server:
// blkRounds boots of the Debian cloud kernel under each of `ironvisor vmm
// run` and QEMU microvm (KVM), alternating, each writing then reading
// blkMiB MiB with O_DIRECT on its virtio-blk disk, a raw file in L1's
// tmpfs. Each run is one result line, VMMBlockVersusQEMU/vmm=NAME, with
// its MB/s, and each round where both VMMs completed one more with
// ironvisor's over QEMU's (ratio=ironvisor-qemu); build/bench/vmm-blk.md
// renders them. It reports the stalled boots and the rounds both VMMs
// completed. Run it with
// `go test -run XXX -bench VMMBlockVersusQEMU -benchtime 1x ./build/racktest`
// (make bench).
func BenchmarkVMMBlockVersusQEMU(b *testing.B) {
	set, err := artefacts.FromEnv()
	if err != nil {
		b.Skipf("SKIP: artefacts not built; run make test (%v)", err)
	}
	for b.Loop() {
		console := runInL1(b, "BenchmarkInL1Block", blkRounds, 60*time.Minute,
			initramfs.HostFile("/guest/vmlinuz", 0o644, set.GuestKernel.Vmlinuz()),
			initramfs.HostFile("/guest/blk-initrd.gz", 0o644, blkInitrd(b, set)))
		reportStalls(b, gotest.RelayL1Results(b, os.Stdout, console, "VMMBlockVersusQEMU"), "VMMBlockVersusQEMU", blkRounds)
	}
}
