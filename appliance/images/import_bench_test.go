package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/store"
)

// BenchmarkImportVersusQemuImg imports the qcow2 cloud disk at
// $IRONVISOR_CLOUD_QCOW2 (build/bench/image-import.sh passes the Debian
// image of `ivbuild cloudimage`) through the image store's upload path,
// the one POST /v1/images takes (Begin, Add of the disk, CommitDisk: the
// upload copied and hashed, the qcow2 converted to a sparse raw file and
// hashed, the kernel and initrd read from it in the jailed boot reader),
// and converts the same file with `qemu-img convert -O raw` into the same
// directory, once each per round ($IRONVISOR_IMPORT_ROUNDS rounds,
// default 5, in one benchmark iteration: run it with -benchtime 1x),
// alternating which goes first. Both outputs are synced before the clock
// stops. It reports the medians, in seconds, of the whole import
// (import-s), of its convert phase alone (convert-s), of qemu-img
// (qemu-img-s), and the ratio of each to qemu-img's.
func BenchmarkImportVersusQemuImg(b *testing.B) {
	src := os.Getenv("IRONVISOR_CLOUD_QCOW2")
	if src == "" {
		b.Skip("SKIP: IRONVISOR_CLOUD_QCOW2 names no qcow2 (build/bench/image-import.sh sets it)")
	}
	qemu, err := exec.LookPath("qemu-img")
	if err != nil {
		b.Skip("SKIP: qemu-img not installed")
	}
	if os.Geteuid() != 0 {
		b.Skip("SKIP: the boot reader's jail needs root")
	}
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	rounds := 5
	if v := os.Getenv("IRONVISOR_IMPORT_ROUNDS"); v != "" {
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			b.Fatalf("IRONVISOR_IMPORT_ROUNDS=%q: want a count", v)
		}
	}
	var imports, converts, qemus []float64
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		runImport := func() {
			total, convert := importOnce(b, s, src, fmt.Sprintf("bench-%d", i))
			imports, converts = append(imports, total.Seconds()), append(converts, convert.Seconds())
		}
		runQemu := func() { qemus = append(qemus, qemuConvertOnce(b, qemu, src, dir).Seconds()) }
		if i%2 == 0 {
			runImport()
			runQemu()
		} else {
			runQemu()
			runImport()
		}
		b.Logf("round %d: import %.2f s (convert %.2f s), qemu-img %.2f s", i+1, imports[i], converts[i], qemus[i])
	}
	b.StopTimer()
	fi, err := os.Stat(src)
	if err != nil {
		b.Fatal(err)
	}
	im, cv, qm := median(imports), median(converts), median(qemus)
	b.ReportMetric(im, "import-s")
	b.ReportMetric(cv, "convert-s")
	b.ReportMetric(qm, "qemu-img-s")
	b.ReportMetric(im/qm, "import/qemu-img")
	b.ReportMetric(cv/qm, "convert/qemu-img")
	b.ReportMetric(float64(fi.Size())/1e6, "qcow2-MB")
	b.ReportMetric(float64(virtualSize)/1e6, "raw-MB")
}

// virtualSize is the raw size of the last disk imported.
var virtualSize int64

// importOnce imports src as image name through Begin, Add and CommitDisk,
// then deletes the image; it returns the time from Begin to the end of
// CommitDisk and the time of the convert phase (from its first progress
// report to the inspect phase's first).
func importOnce(b *testing.B, s *Store, src, name string) (total, convert time.Duration) {
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var convStart, convEnd time.Time
	progress := func(phase string, done, total int64) {
		switch {
		case phase == PhaseConvert && convStart.IsZero():
			convStart = time.Now()
		case phase == PhaseInspect && convEnd.IsZero():
			convEnd = time.Now()
		}
	}
	start := time.Now()
	u, err := s.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer u.Abort()
	if err := u.Add(PartDisk, f); err != nil {
		b.Fatal(err)
	}
	img, err := u.CommitDisk(context.Background(), name, "", progress)
	if err != nil {
		b.Fatal(err)
	}
	total = time.Since(start)
	if convStart.IsZero() || convEnd.IsZero() {
		b.Fatalf("import of %s reported no convert phase: is it a qcow2?", src)
	}
	virtualSize = img.Disk.Size
	if err := s.Delete(img.ID); err != nil {
		b.Fatal(err)
	}
	return total, convEnd.Sub(convStart)
}

// qemuConvertOnce converts src to a raw file in dir with qemu-img, syncs
// it, removes it and returns the time up to the sync's end.
func qemuConvertOnce(b *testing.B, qemu, src, dir string) time.Duration {
	dst := filepath.Join(dir, "qemu-img.raw")
	start := time.Now()
	if out, err := exec.Command(qemu, "convert", "-f", "qcow2", "-O", "raw", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	err = f.Sync()
	d := time.Since(start)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(dst); err != nil {
		b.Fatal(err)
	}
	return d
}

// median returns the middle of xs (the lower of the two middles of an
// even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[(len(s)-1)/2]
}
