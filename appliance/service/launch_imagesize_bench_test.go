package service

import (
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/volumes/btrfstest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// BenchmarkLaunchImageSize measures launch to running, through the real
// "ironvisor serve" and "ironvisor ctl instances launch --wait", of two
// images that differ only in the size of their disk: a big one
// ($IRONVISOR_LAUNCH_BIG_MIB, default 10240 MiB) and a small one
// ($IRONVISOR_LAUNCH_SMALL_MIB, default 100 MiB). Both disks are full of
// non-zero data, so that a sparse copy cannot skip any of it; both boot
// the same tiny PVH kernel (the disk is the root volume, never read), as
// a nano instance on this host's KVM. Each of
// $IRONVISOR_LAUNCH_ROUNDS rounds (default 3; run with -benchtime 1x)
// launches one of each, alternating which goes first, and terminates it
// (which deletes its root volume) before the next launch. It reports the
// median milliseconds (nearest rank) of each (big-ms, small-ms) and
// their ratio (big/small).
//
// serve's data directory is on a btrfs file system, as on an appliance
// that formatted its own data disk (appliance/datadisk): a loop-mounted
// btrfs image (btrfstest) on a host whose own file systems may share no
// extents. GET /v1/host must say its volumes are copy-on-write, so the
// figures are those of the product's reflink path.
// IRONVISOR_LAUNCH_DATA=host keeps it in the test's temporary folder
// instead, to measure the copy a file system without reflinks makes.
func BenchmarkLaunchImageSize(b *testing.B) {
	testutil.NeedKVM(b)
	if os.Geteuid() != 0 {
		b.Skip("SKIP: the VMM jail needs root")
	}
	bigMiB, smallMiB, rounds := envInt(b, "IRONVISOR_LAUNCH_BIG_MIB", 10240),
		envInt(b, "IRONVISOR_LAUNCH_SMALL_MIB", 100), envInt(b, "IRONVISOR_LAUNCH_ROUNDS", 3)
	parent, wantCoW := b.TempDir(), true
	if os.Getenv("IRONVISOR_LAUNCH_DATA") == "host" {
		wantCoW = false
	} else {
		// Room for each image and for a volume of it: the launch checks
		// that a volume could grow to its full size (the guest may write
		// every block), reflink or not. The image file is sparse.
		parent = btrfstest.Mount(b, 2*int64(bigMiB+smallMiB)<<20+4<<30)
	}
	bin := rackIronvisor
	if _, err := os.Stat(bin); err != nil {
		bin = buildBinary(b)
	}
	s := startServeData(b, bin, filepath.Join(parent, "data"), "--insecure-http")
	admin := s.adminToken(b)
	var host struct{ Storage hostinfo.Storage }
	s.ok(b, admin, &host, "host", "--json")
	b.Logf("data directory: %s on %s, volumes made by %s (copy_on_write %v)", host.Storage.Dir,
		host.Storage.FSType, host.Storage.VolumeMethod, host.Storage.CopyOnWrite)
	if host.Storage.CopyOnWrite != wantCoW || host.Storage.Error != "" {
		b.Fatalf("GET /v1/host storage = %+v, want copy_on_write %v", host.Storage, wantCoW)
	}
	var tenant struct{ Token string }
	s.ok(b, admin, &tenant, "tenants", "create", "imgsize", "--json")
	dir := b.TempDir()
	kernel := filepath.Join(dir, "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello("IMAGESIZE\n", testutil.ExitHalt), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, im := range []struct {
		name string
		mib  int
	}{{"big", bigMiB}, {"small", smallMiB}} {
		disk := filepath.Join(dir, im.name+".raw")
		writeDataDisk(b, disk, int64(im.mib)<<20)
		start := time.Now()
		s.ok(b, admin, nil, "images", "upload", "--name", im.name, "--kernel", kernel, "--disk", disk, "--cmdline", "console=ttyS0")
		b.Logf("%s image (%d MiB) uploaded in %v", im.name, im.mib, time.Since(start).Round(time.Millisecond))
		if err := os.Remove(disk); err != nil {
			b.Fatal(err)
		}
	}
	var big, small []float64
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		order := []string{"big", "small"}
		if i%2 == 1 {
			order = []string{"small", "big"}
		}
		for _, name := range order {
			ms := launchOnce(b, s, tenant.Token, name)
			if name == "big" {
				big = append(big, ms)
			} else {
				small = append(small, ms)
			}
		}
		b.Logf("round %d: big %.0f ms, small %.0f ms", i+1, big[i], small[i])
	}
	b.StopTimer()
	bm, sm := lowerMedian(big), lowerMedian(small)
	b.ReportMetric(bm, "big-ms")
	b.ReportMetric(sm, "small-ms")
	b.ReportMetric(bm/sm, "big/small")
	b.ReportMetric(float64(bigMiB), "big-MiB")
	b.ReportMetric(float64(smallMiB), "small-MiB")
}

// launchOnce launches a nano instance of image, waits until it runs,
// terminates it and returns the milliseconds from the start of the launch
// command to its return with the instance running.
func launchOnce(b *testing.B, s server, token, image string) float64 {
	var insts []struct{ ID, State string }
	start := time.Now()
	// It prints the launch's answer (pending), then returns 0 only once
	// the instance runs.
	s.ok(b, token, &insts, "instances", "launch", "--image", image, "--type", "nano", "--wait", "10m", "--json")
	d := time.Since(start)
	if len(insts) != 1 {
		b.Fatalf("launch of %s: %+v", image, insts)
	}
	var in struct{ State string }
	if s.ok(b, token, &in, "instances", "get", insts[0].ID, "--json"); in.State != "running" {
		b.Fatalf("launch of %s returned with %s %s", image, insts[0].ID, in.State)
	}
	s.ok(b, token, &in, "instances", "terminate", insts[0].ID, "--json")
	if in.State != "terminated" {
		b.Fatalf("terminate %s: %+v", insts[0].ID, in)
	}
	if _, err := os.Stat(filepath.Join(s.data, "volumes", insts[0].ID+".img")); !os.IsNotExist(err) {
		b.Fatalf("volume of %s left after terminate: %v", insts[0].ID, err)
	}
	return float64(d) / float64(time.Millisecond)
}

// writeDataDisk writes size bytes of pseudo-random data to path and
// syncs it: one random block, with its offset in its first 8 bytes so that
// no two blocks are equal, and none is zero, so a copy must copy all of it.
func writeDataDisk(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	rand.New(rand.NewSource(1)).Read(buf)
	for off := int64(0); off < size; off += int64(len(buf)) {
		binary.LittleEndian.PutUint64(buf, uint64(off)+1)
		n := min(int64(len(buf)), size-off)
		if _, err := f.Write(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// envInt returns the positive integer in environment variable name, or
// def when it is unset.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// lowerMedian returns the middle of xs (the lower of the two middles of
// an even count).
func lowerMedian(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[(len(s)-1)/2]
}
