package racktest

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

// launchRateCPUs is the rack server's CPU count for the launch-rate
// benchmark; the service's vCPU budget, and so the most nano instances at
// once, is that many (no overcommit). More L1 CPUs than the host's two cores
// stall the nested-TCG L1 in soft lockups.
const launchRateCPUs = 2

// launchRateLine is TestLaunchRateOnKVM's result line.
var launchRateLine = regexp.MustCompile(`LAUNCHRATE launches=(\d+) workers=(\d+) cpus=(\d+) seconds=([\d.]+) rate=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) max_running=(\d+)`)

// bootStagesLine is TestLaunchRateOnKVM's server-side breakdown: the mean
// of each boot stage.
var bootStagesLine = regexp.MustCompile(`BOOTSTAGES queue_ms=([\d.]+) prepare_ms=([\d.]+) vmm_ms=([\d.]+) commit_ms=([\d.]+)`)

// rawRateLine is TestLaunchRateOnKVM's raw arm: the same starts through the
// supervisor without the API, and what one launch costs on each side.
var rawRateLine = regexp.MustCompile(`RAWRATE rounds=(\d+) rate=([\d.]+) ratio=([\d.]+) ratio_rounds=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) api_up_ms=([\d.]+) api_down_ms=([\d.]+) raw_up_ms=([\d.]+) raw_down_ms=([\d.]+)`)

// launchNetLine is TestLaunchRateOnKVM's network variant: the API arm with
// CPU overcommit, a network and a security group, and its boot stages.
var launchNetLine = regexp.MustCompile(`LAUNCHRATENET launches=(\d+) workers=(\d+) overcommit=(\d+) rules=(\d+) seconds=([\d.]+) rate=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) up_ms=([\d.]+) down_ms=([\d.]+) queue_ms=([\d.]+) prepare_ms=([\d.]+) vmm_ms=([\d.]+) commit_ms=([\d.]+)`)

// BenchmarkLaunchRateInRack runs TestLaunchRateOnKVM on real KVM inside a
// rack server and reports its figures: nano tiny-guest launches to running
// per second (sustained), p50 and p99 of launch to running, the most nano
// instances running at once, and the raw rate of the same starts through
// the supervisor alone with its ratio to the API's, and the API's figures
// again with a network, a security group and CPU overcommit (net-*).
// build/bench/controlplane.md renders them in docs/benchmarks.md.
func BenchmarkLaunchRateInRack(b *testing.B) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		b.Skipf("SKIP: artefacts not built; run make test (%v)", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		o := gotest.Options{
			Package: "github.com/ironvisor/ironvisor/appliance/service",
			Run:     "TestLaunchRateOnKVM", Modules: netModules,
			Timeout: 10 * time.Minute, Ironvisor: true, CPUs: launchRateCPUs, LogDir: b.TempDir(),
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+time.Minute)
		res, err := gotest.Run(ctx, set, o)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("in the rack (%v):\n%s", res.Elapsed, res.Output)
		gotest.CheckPassed(b, res, "TestLaunchRateOnKVM")
		m := launchRateLine.FindStringSubmatch(res.Output)
		if m == nil {
			b.Fatalf("no LAUNCHRATE line in the output")
		}
		for i, unit := range []string{"launches", "workers", "cpus", "s", "launches/s", "p50-ms", "p99-ms", "max-running"} {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			b.ReportMetric(v, unit)
		}
		if m = bootStagesLine.FindStringSubmatch(res.Output); m == nil {
			b.Fatalf("no BOOTSTAGES line in the output")
		}
		for i, unit := range []string{"queue-ms", "prepare-ms", "vmm-ms", "commit-ms"} {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			b.ReportMetric(v, unit)
		}
		if m = rawRateLine.FindStringSubmatch(res.Output); m == nil {
			b.Fatalf("no RAWRATE line in the output")
		}
		for i, unit := range []string{"rounds", "raw-launches/s", "raw/api", "raw/api-rounds", "raw-p50-ms", "raw-p99-ms",
			"api-up-ms", "api-down-ms", "raw-up-ms", "raw-down-ms"} {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			b.ReportMetric(v, unit)
		}
		if m = launchNetLine.FindStringSubmatch(res.Output); m == nil {
			b.Fatalf("no LAUNCHRATENET line in the output")
		}
		for i, unit := range []string{"net-launches", "net-workers", "overcommit", "rules", "net-s", "net-launches/s", "net-p50-ms", "net-p99-ms",
			"net-up-ms", "net-down-ms", "net-queue-ms", "net-prepare-ms", "net-vmm-ms", "net-commit-ms"} {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			b.ReportMetric(v, unit)
		}
	}
}
