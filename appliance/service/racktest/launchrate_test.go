package racktest

import (
	"context"
	"errors"
	"os"
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

// BenchmarkLaunchRateInRack runs TestLaunchRateOnKVM on real KVM inside a
// rack server and reports its figures: nano tiny-guest launches to running
// per second (sustained), p50 and p99 of launch to running, the most nano
// instances running at once, and the raw rate of the same starts through
// the supervisor alone with its ratio to the API's, and the API's figures
// again with a network, a security group and CPU overcommit (net-*). The
// L1 prints them as result lines (LaunchRateInRack/plain and /network),
// which it relays (gotest.RelayL1Results) and reports as its own.
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
		rs := gotest.RelayL1Results(b, os.Stdout, res.Output, "LaunchRateInRack")
		for _, want := range []string{"LaunchRateInRack/plain", "LaunchRateInRack/network"} {
			got := gotest.FindResult(rs, want)
			if got == nil {
				b.Fatalf("no %s result in the output", want)
			}
			for _, v := range got.Values {
				b.ReportMetric(v.Value, v.Unit)
			}
		}
	}
}
