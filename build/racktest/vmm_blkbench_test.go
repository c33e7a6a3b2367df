package racktest

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/guestinitrd"
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

// blkLine is one in-L1 throughput run; blkStallLine one boot that stalled
// before the guest's /init.
var (
	blkLine      = regexp.MustCompile(`BLK vmm=(\w+) round=(\d+) write_mbs=([0-9.]+) read_mbs=([0-9.]+)`)
	blkStallLine = regexp.MustCompile(`BLK-STALL vmm=(\w+) round=(\d+) attempt=(\d+)`)
)

// BenchmarkVMMBlockVersusQEMU runs BenchmarkInL1Block in one L1 server:
// blkRounds boots of the Debian cloud kernel under each of `ironvisor vmm
// run` and QEMU microvm (KVM), alternating, each writing then reading
// blkMiB MiB with O_DIRECT on its virtio-blk disk, a raw file in L1's
// tmpfs; it reports the median MB/s of each and the ratios, and how many
// boots stalled before /init. Run it with
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
		reportBlock(b, console)
	}
}

// reportBlock parses the BLK lines and reports medians and ratios over the
// rounds that both VMMs completed. It logs the table rows that
// build/bench/vmm-blk.sh prints, each after "ROW:", and the stall count
// after "STALLS:".
func reportBlock(b *testing.B, console string) {
	type result struct{ write, read float64 }
	rounds := map[int]map[string]result{}
	for _, m := range blkLine.FindAllStringSubmatch(console, -1) {
		round, _ := strconv.Atoi(m[2])
		w, _ := strconv.ParseFloat(m[3], 64)
		r, _ := strconv.ParseFloat(m[4], 64)
		if rounds[round] == nil {
			rounds[round] = map[string]result{}
		}
		rounds[round][m[1]] = result{w, r}
	}
	stalls := map[string]int{}
	for _, m := range blkStallLine.FindAllStringSubmatch(console, -1) {
		stalls[m[1]]++
	}
	var write, read [2][]float64 // ironvisor, QEMU; paired rounds only
	completed := 0
	for round := range blkRounds {
		completed += len(rounds[round])
		iv, ok1 := rounds[round]["ironvisor"]
		q, ok2 := rounds[round]["qemu"]
		if ok1 && ok2 {
			write[0], write[1] = append(write[0], iv.write), append(write[1], q.write)
			read[0], read[1] = append(read[0], iv.read), append(read[1], q.read)
		}
	}
	b.Logf("STALLS: %d of %d boots stalled before /init (ironvisor %d, QEMU %d); %d of %d rounds had both VMMs complete",
		stalls["ironvisor"]+stalls["qemu"], completed+stalls["ironvisor"]+stalls["qemu"], stalls["ironvisor"], stalls["qemu"],
		len(write[0]), blkRounds)
	if len(write[0]) == 0 {
		b.Fatal("no round where both VMMs completed")
	}
	for _, op := range []struct {
		name string
		v    [2][]float64
	}{{"sequential write", write}, {"sequential read", read}} {
		iv, q := op.v[0], op.v[1]
		b.Logf("ROW: | %s, %d MiB, 1 MiB blocks, O_DIRECT | %.1f MB/s | %.1f MB/s | %s | %s | %s | %s |",
			op.name, blkMiB, median(iv), median(q), ratioOfMedians(iv, q), pairedRatio(iv, q), list(iv), list(q))
		key := strings.Fields(op.name)[1]
		b.ReportMetric(median(iv), fmt.Sprintf("ironvisor-%s-MB/s", key))
		b.ReportMetric(median(q), fmt.Sprintf("qemu-%s-MB/s", key))
	}
}
