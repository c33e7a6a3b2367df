//go:build rack

// The launch-rate measurement of issue 5 needs real VMMs (hardware KVM);
// it is compiled only with the rack tag, and
// appliance/service/racktest's BenchmarkLaunchRateInRack runs it in the
// rack for `make bench`.

package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// launchRateLaunches is how many launches the sustained-rate phase makes.
const launchRateLaunches = 48

// TestLaunchRateOnKVM measures, through the real API and binary, with nano
// instances of a tiny PVH guest:
//
//   - how many run at once: launches one by one, each waited for until
//     running, until the service refuses one (InsufficientCapacity) or one
//     fails to run;
//   - the sustained launch rate: as many workers as instances fit each
//     loop launch, wait for running, terminate, for launchRateLaunches
//     launches in all; the rate is launches that reached running per
//     second of wall time, with p50 and p99 of launch (POST sent) to
//     running (first GET showing it, polled every 5 ms).
//
// It prints one LAUNCHRATE line and one BOOTSTAGES line (the mean of each
// boot stage, from the service's /metrics) that BenchmarkLaunchRateInRack
// parses.
func TestLaunchRateOnKVM(t *testing.T) {
	needKVM(t)
	// The benchmark polls each launch every 5 ms, far above a token's
	// default request rate (the rate limit of issue 10, finding 5).
	s := startServe(t, "--insecure-http", "--api-rate", "-1")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "rate", "--json")
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello("LAUNCH-RATE\n", testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	// The benchmark drives the API as its users' programs do: through the
	// typed client of the contract.
	c := apiv1.NewClient(s.url, tenant.Token, nil)
	ctx := context.Background()

	// How many at once.
	var ids []string
	limit := ""
	for limit == "" {
		id, _, err := launchToRunning(ctx, c)
		switch {
		case err == nil:
			ids = append(ids, id)
		case apiv1.CodeOf(err) == apiv1.InsufficientCapacity:
			limit = err.Error()
		default:
			t.Fatalf("launch %d: %v", len(ids)+1, err)
		}
	}
	most := len(ids)
	t.Logf("%d nano instances running at once; the next launch: %s", most, limit)
	if most < 1 {
		t.Fatal("not one nano instance runs")
	}
	for _, id := range ids {
		if err := terminate(ctx, c, id); err != nil {
			t.Fatal(err)
		}
	}

	// Sustained rate.
	var mu sync.Mutex
	var lat []time.Duration
	var failed []error
	next := make(chan struct{}, launchRateLaunches)
	for range launchRateLaunches {
		next <- struct{}{}
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for range most {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				id, d, err := launchToRunning(ctx, c)
				if err == nil {
					err = terminate(ctx, c, id)
				}
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(failed) > 0 {
		t.Fatalf("%d of %d launches failed, first: %v", len(failed), launchRateLaunches, failed[0])
	}
	slices.Sort(lat)
	rate := float64(len(lat)) / elapsed.Seconds()
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	t.Logf("%d launches to running with %d workers in %v", len(lat), most, elapsed.Round(time.Millisecond))
	fmt.Printf("LAUNCHRATE launches=%d workers=%d cpus=%d seconds=%.2f rate=%.2f p50_ms=%.1f p99_ms=%.1f max_running=%d\n",
		len(lat), most, runtime.NumCPU(), elapsed.Seconds(), rate,
		float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, most)
	fmt.Println("BOOTSTAGES " + bootStages(t, s, admin))
}

// bootStages reads the service's boot stage histograms from /metrics and
// returns the mean of each stage over every boot, as "queue_ms=... ...".
func bootStages(t *testing.T, s server, admin string) string {
	t.Helper()
	body, err := apiv1.NewClient(s.url, admin, nil).Metrics(context.Background())
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	var out []string
	for _, stage := range []string{"queue", "prepare", "vmm", "commit"} {
		sum, count := metricValue(body, fmt.Sprintf(`ironvisor_boot_stage_seconds_sum{stage=%q}`, stage)),
			metricValue(body, fmt.Sprintf(`ironvisor_boot_stage_seconds_count{stage=%q}`, stage))
		if count == 0 {
			t.Fatalf("no %s boot stage in /metrics", stage)
		}
		out = append(out, fmt.Sprintf("%s_ms=%.1f", stage, sum/count*1000))
	}
	return strings.Join(out, " ")
}

// metricValue returns the value of the sample named name (with its
// labels) in a Prometheus text exposition, or 0.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// launchToRunning launches one nano instance and waits until it runs. It
// returns the time from sending the launch to the first answer showing
// running.
func launchToRunning(ctx context.Context, c *apiv1.Client) (string, time.Duration, error) {
	start := time.Now()
	got, err := c.Launch(ctx, apiv1.LaunchRequest{Image: "tiny", Type: "nano"})
	if err != nil {
		return "", 0, err
	}
	if len(got) != 1 {
		return "", 0, fmt.Errorf("launch answered %d instances", len(got))
	}
	id := got[0].ID
	deadline := start.Add(2 * time.Minute)
	for {
		in, err := c.Instance(ctx, id)
		if err != nil {
			return id, 0, err
		}
		switch in.State {
		case "running":
			return id, time.Since(start), nil
		case "pending":
		default:
			return id, 0, fmt.Errorf("instance %s went %s (%s) instead of running", id, in.State, in.Reason)
		}
		if time.Now().After(deadline) {
			return id, 0, fmt.Errorf("instance %s still pending after 2 minutes", id)
		}
		time.Sleep(5 * time.Millisecond) // the API has no state stream
	}
}

// terminate terminates instance id and checks the answer.
func terminate(ctx context.Context, c *apiv1.Client, id string) error {
	in, err := c.Terminate(ctx, id)
	if err == nil && in.State != "terminated" {
		err = fmt.Errorf("terminate %s: %s (%s)", id, in.State, in.Reason)
	}
	return err
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
