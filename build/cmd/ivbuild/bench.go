package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/initramfs"
)

// bootSample is one measured appliance boot.
type bootSample struct {
	wall       time.Duration // QEMU start to the READY banner on the console
	kernelMS   float64       // kernel uptime when init started
	apiReadyMS float64       // init start to API ready, measured by PID 1
}

// runBenchBoot implements `ivbuild bench-boot`: it prints the "Appliance
// boot" section of docs/benchmarks.md on stdout.
func runBenchBoot(args []string) int {
	fs := flag.NewFlagSet("bench-boot", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	n := fs.Int("n", 3, "boots per variant")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild bench-boot [-artefacts DIR] [-n N]\n\nBuilds the appliance image twice (sha256 must match), then boots it N\ntimes gzip-compressed and N times uncompressed, alternating, and prints\na markdown section with sizes and median boot times.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if err := benchBoot(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild bench-boot:", err)
		return 1
	}
	return 0
}

// benchBoot measures and prints the section.
func benchBoot(dir string, n int) error {
	set, err := artefacts.Load(dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-boot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sums, buildTime, err := buildTwice(set)
	if err != nil {
		return err
	}
	plain := filepath.Join(tmp, "appliance.cpio")
	b, _, err := applianceBuilder(set)
	if err != nil {
		return err
	}
	if _, err := b.WriteFile(plain, initramfs.None); err != nil {
		return err
	}
	variants := []string{set.InitramfsPath(), plain}
	samples := make([][]bootSample, len(variants))
	for i := 0; i < n; i++ {
		for v, img := range variants {
			logf("boot %d/%d of %s ...", i+1, n, filepath.Base(img))
			s, err := measureBoot(set, img, tmp)
			if err != nil {
				return err
			}
			samples[v] = append(samples[v], s)
		}
	}
	printBootSection(os.Stdout, set, sums, buildTime, n, samples)
	return nil
}

// applianceBuilder rebuilds the appliance image from the artefacts.
func applianceBuilder(set *artefacts.Set) (*initramfs.Builder, *initramfs.ModuleSet, error) {
	return initramfs.Appliance(initramfs.ApplianceOptions{
		Binary: set.IronvisorPath(), KernelRelease: set.HostKernel.Release, ModulesDir: set.HostKernel.ModulesDir(),
		Executables: applianceExecutables(),
	})
}

// buildTwice builds the gzip image twice in memory and returns both
// sha256 sums and the median build time.
func buildTwice(set *artefacts.Set) ([2]string, time.Duration, error) {
	var sums [2]string
	var total time.Duration
	for i := range sums {
		start := time.Now()
		b, _, err := applianceBuilder(set)
		if err != nil {
			return sums, 0, err
		}
		var buf bytes.Buffer
		if err := b.Write(&buf, initramfs.Gzip); err != nil {
			return sums, 0, err
		}
		total += time.Since(start)
		h := sha256.Sum256(buf.Bytes())
		sums[i] = hex.EncodeToString(h[:])
	}
	return sums, total / 2, nil
}

// measureBoot boots one server on img and reads its boot timeline.
func measureBoot(set *artefacts.Set, img, logDir string) (bootSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "bench", Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{img},
		MemoryMiB: 1024, CPUs: 1, LogDir: logDir,
	})
	if err != nil {
		return bootSample{}, err
	}
	defer srv.Stop()
	start := time.Now()
	if _, err := srv.Console.ExpectRegexp(ctx, readyLine); err != nil {
		return bootSample{}, err
	}
	s := bootSample{wall: time.Since(start)}
	var doc struct {
		Boot struct {
			KernelUptimeMS float64 `json:"kernel_uptime_ms"`
			APIReadyMS     float64 `json:"api_ready_ms"`
		} `json:"boot"`
	}
	if err := srv.ApplianceHost(ctx, 8080, &doc); err != nil {
		return bootSample{}, err
	}
	s.kernelMS, s.apiReadyMS = doc.Boot.KernelUptimeMS, doc.Boot.APIReadyMS
	return s, nil
}

// median returns the median of xs (xs is reordered).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// pick maps samples through f.
func pick(ss []bootSample, f func(bootSample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// printBootSection writes the markdown section.
func printBootSection(w io.Writer, set *artefacts.Set, sums [2]string, build time.Duration, n int, samples [][]bootSample) {
	same := "identical"
	if sums[0] != sums[1] {
		same = "DIFFERENT"
	}
	fmt.Fprintf(w, "## Appliance boot\n\nCommand: `make bench` (runs `ivbuild bench-boot -n %d`), %s, on the\n", n, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "shared 2-core host: QEMU TCG with `-cpu EPYC,+svm`, 1 vCPU, 1 GiB, host kernel %s.\n\n", set.HostKernel.Release)
	fmt.Fprintf(w, "Initramfs (`make initramfs`): %s gzip (%d bytes), %s uncompressed, %d kernel modules (%s).\n",
		mib(set.InitramfsBytes), set.InitramfsBytes, mib(set.UncompressedBytes), set.Modules, mib(set.ModuleBytes))
	fmt.Fprintf(w, "Built twice in one run: sha256 %s (`%s`, `%s`); build time %.1f s.\n", same, sums[0][:16], sums[1][:16], build.Seconds())
	fmt.Fprintf(w, "Every `make test` checks the same property in `go test ./initramfs -run TestBuildTwiceIsByteIdentical`.\n\n")
	fmt.Fprintf(w, "Boot, median of %d per variant (alternating):\n\n", n)
	fmt.Fprintln(w, "| initrd | QEMU start to READY (wall) | kernel start to /init | /init to API ready (PID 1, monotonic) |")
	fmt.Fprintln(w, "|---|---|---|---|")
	names := []string{"gzip -9", "uncompressed"}
	for i, ss := range samples {
		fmt.Fprintf(w, "| %s | %.1f s | %.1f s | %.1f s |\n", names[i],
			median(pick(ss, func(s bootSample) float64 { return s.wall.Seconds() })),
			median(pick(ss, func(s bootSample) float64 { return s.kernelMS / 1000 })),
			median(pick(ss, func(s bootSample) float64 { return s.apiReadyMS / 1000 })))
	}
	gz := median(pick(samples[0], func(s bootSample) float64 { return s.wall.Seconds() }))
	pl := median(pick(samples[1], func(s bootSample) float64 { return s.wall.Seconds() }))
	verdict := "gzip boots no slower than the uncompressed image here"
	if gz > pl {
		verdict = fmt.Sprintf("the uncompressed image boots %.1f s faster here", gz-pl)
	}
	fmt.Fprintf(w, "\nChoice: the image ships gzip-compressed; %s, and PXE (TFTP) and the UKI carry %.1fx fewer bytes.\n",
		verdict, float64(set.UncompressedBytes)/float64(set.InitramfsBytes))
	var raw []string
	for i, ss := range samples {
		for _, s := range ss {
			raw = append(raw, fmt.Sprintf("%s %.1fs/%.0fms", names[i], s.wall.Seconds(), s.apiReadyMS))
		}
	}
	fmt.Fprintf(w, "\nRaw (wall/api_ready_ms): %s.\n", strings.Join(raw, ", "))
}
