//go:build rack

// The launch-rate measurement of issue 5 needs real VMMs (hardware KVM);
// it is compiled only with the rack tag, and
// appliance/service/racktest's BenchmarkLaunchRateInRack runs it in the
// rack for `make bench`.

package service

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// launchRateLaunches is how many launches each arm of each round of the
// sustained-rate phase makes.
const launchRateLaunches = 48

// launchRateRounds is how many rounds of the sustained-rate phase run; each
// runs both arms, the API's first in even rounds.
const launchRateRounds = 3

// TestLaunchRateOnKVM measures, through the real API and binary, with nano
// instances of a tiny PVH guest:
//
//   - how many run at once: launches one by one, each waited for until
//     running, until the service refuses one (InsufficientCapacity) or one
//     fails to run;
//   - the sustained launch rate, in launchRateRounds rounds of two arms
//     that swap order every round: through the API, as many workers as
//     instances fit each loop launch, wait for running, terminate, for
//     launchRateLaunches launches; raw, as many workers each start the
//     same VMM through a supervisor of their own with the service's
//     options (the same binary, jail, vCPUs and memory), wait for its
//     Start to return (what the service calls running), stop it by force
//     and forget it, for as many launches. A rate is launches that
//     reached running per second of the arm's wall time; p50 and p99 of
//     launch (POST sent) to running (the answer of a describe that
//     long-polls while pending) pool every API round.
//
// Its subtest plain prints one benchmark result line
// (LaunchRateInRack/plain, gotest.L1Result): the median API rate, the
// mean of each boot stage over the rounds (from the service's /metrics),
// the median raw rate, its ratio to the API's, and the mean time of each
// side's launch and stop. Its subtest network runs the API arm again on a
// service with CPU overcommit, each instance in a network with a
// security group of launchNetRules rules (issue 14, goal 2), and prints
// LaunchRateInRack/network. BenchmarkLaunchRateInRack relays them.
func TestLaunchRateOnKVM(t *testing.T) {
	needKVM(t)
	t.Run("plain", testLaunchRatePlain)
	t.Run("network", testLaunchRateNetwork)
}

// launchNetRules is how many ingress rules the security group of the
// network variant has, and launchNetOvercommit its service's vCPUs per
// host CPU.
const (
	launchNetRules      = 8
	launchNetOvercommit = 4
)

// nanoTiny is the launch of both variants without a network.
var nanoTiny = apiv1.LaunchRequest{Image: "tiny", Type: "nano"}

// launchWorld starts the real serve binary with extra flags and uploads
// the tiny guest as image tiny. It returns the service, its admin token,
// the lean VMM binary, the guest's kernel and a client as a new tenant;
// the benchmark drives the API as its users' programs do, through the
// typed client of the contract.
func launchWorld(t *testing.T, extra ...string) (s server, admin, vmm, kernel string, c *apiv1.Client) {
	t.Helper()
	// Three requests or more per launch: on a fast host the workers would
	// pass a token's default request rate (50 a second, the rate limit of
	// issue 10, finding 5), and this measures the API, not that limit.
	bin, vmm := leanBinaries(t)
	s = startServeBin(t, bin, append([]string{"--insecure-http", "--api-rate", "-1"}, extra...)...)
	admin = s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "rate", "--json")
	kernel = filepath.Join(t.TempDir(), "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello("LAUNCH-RATE\n", testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	return s, admin, vmm, kernel, apiv1.NewClient(s.url, tenant.Token, nil)
}

// mostAtOnce launches q one by one, each waited for until running, until
// the service refuses one for capacity, terminates them all and returns
// how many ran.
func mostAtOnce(t *testing.T, ctx context.Context, c *apiv1.Client, q apiv1.LaunchRequest) int {
	t.Helper()
	var ids []string
	limit := ""
	for limit == "" {
		id, _, err := launchToRunning(ctx, c, q)
		switch {
		case err == nil:
			ids = append(ids, id)
		case apiv1.CodeOf(err) == apiv1.InsufficientCapacity:
			limit = err.Error()
		default:
			t.Fatalf("launch %d: %v", len(ids)+1, err)
		}
	}
	t.Logf("%d instances running at once; the next launch: %s", len(ids), limit)
	if len(ids) < 1 {
		t.Fatal("not one instance runs")
	}
	for _, id := range ids {
		if err := terminate(ctx, c, id); err != nil {
			t.Fatal(err)
		}
	}
	return len(ids)
}

// testLaunchRatePlain is the launch rate without a network, through the API
// and raw, in rotation.
func testLaunchRatePlain(t *testing.T) {
	s, admin, vmm, kernel, c := launchWorld(t)
	ctx := context.Background()
	most := mostAtOnce(t, ctx, c, nanoTiny)

	// Sustained rate, rounds of both arms in rotation: through the API,
	// and the same starts through a supervisor of its own (the raw rate).
	raw := newRawLauncher(t, vmm, kernel, "")
	before := stageTotals(t, s, admin)
	var api, direct []armResult
	var ratios []float64
	for round := range launchRateRounds {
		arms := []func() error{
			func() error {
				r, err := runWorkers(launchRateLaunches, most, apiLaunch(ctx, c, nanoTiny))
				api = append(api, r)
				return err
			},
			func() error {
				r, err := runWorkers(launchRateLaunches, most, raw.launch(ctx, round))
				direct = append(direct, r)
				return err
			},
		}
		if round%2 == 1 {
			arms[0], arms[1] = arms[1], arms[0]
		}
		for _, arm := range arms {
			if err := arm(); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		a, d := api[round], direct[round]
		ratios = append(ratios, d.rate()/a.rate())
		t.Logf("round %d: API %.2f/s (%v), raw %.2f/s (%v)", round, a.rate(), a.elapsed.Round(time.Millisecond), d.rate(), d.elapsed.Round(time.Millisecond))
	}
	stages := stageMeans(t, before, stageTotals(t, s, admin), "")
	var apiRates, rawRates []float64
	var apiSeconds float64
	for i := range api {
		apiRates, rawRates = append(apiRates, api[i].rate()), append(rawRates, direct[i].rate())
		apiSeconds += api[i].elapsed.Seconds()
	}
	lat, rawUp := pooled(api, func(a armResult) []time.Duration { return a.up }), pooled(direct, func(a armResult) []time.Duration { return a.up })
	// What one launch costs on each side, means over every round: up is
	// launch to running, down the terminate (API) or the forced stop and
	// removal of the VMM's files (raw).
	gotest.L1Result("LaunchRateInRack/plain", append([]benchfmt.Value{
		{Value: float64(len(lat)), Unit: "launches"}, {Value: float64(most), Unit: "workers"},
		{Value: float64(runtime.NumCPU()), Unit: "cpus"}, {Value: apiSeconds, Unit: "s"},
		{Value: medianOf(apiRates), Unit: "launches/s"}, {Value: ms(percentile(lat, 50)), Unit: "p50-ms"},
		{Value: ms(percentile(lat, 99)), Unit: "p99-ms"}, {Value: float64(most), Unit: "max-running"},
		{Value: launchRateRounds, Unit: "rounds"}, {Value: medianOf(rawRates), Unit: "raw-launches/s"},
		{Value: medianOf(rawRates) / medianOf(apiRates), Unit: "raw/api"}, {Value: medianOf(ratios), Unit: "raw/api-rounds"},
		{Value: ms(percentile(rawUp, 50)), Unit: "raw-p50-ms"}, {Value: ms(percentile(rawUp, 99)), Unit: "raw-p99-ms"},
		{Value: mean(lat), Unit: "api-up-ms"}, {Value: mean(pooled(api, func(a armResult) []time.Duration { return a.down })), Unit: "api-down-ms"},
		{Value: mean(rawUp), Unit: "raw-up-ms"}, {Value: mean(pooled(direct, func(a armResult) []time.Duration { return a.down })), Unit: "raw-down-ms"},
	}, stages...)...)
}

// testLaunchRateNetwork is the API arm on a service with CPU overcommit
// (launchNetOvercommit), each instance with a NIC in a network and a
// security group of launchNetRules ingress rules: its launch attaches a
// tap, a lease and the group's rules, its terminate takes them away. As
// many workers as such instances fit; one result line,
// LaunchRateInRack/network.
func testLaunchRateNetwork(t *testing.T) {
	s, admin, _, _, c := launchWorld(t, "--cpu-overcommit", strconv.Itoa(launchNetOvercommit))
	ctx := context.Background()
	if _, err := c.CreateNetwork(ctx, apiv1.NetworkRequest{Name: "web", CIDR: "10.79.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	g := apiv1.SecurityGroupRequest{Name: "web"}
	for i := range launchNetRules {
		port := uint16(8000 + i)
		g.Ingress = append(g.Ingress, apiv1.Rule{Proto: "tcp", FromPort: port, ToPort: port, CIDR: netip.MustParsePrefix("0.0.0.0/0")})
	}
	if _, err := c.CreateSecurityGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	q := apiv1.LaunchRequest{Image: "tiny", Type: "nano", Network: "web", SecurityGroups: []string{"web"}}
	most := mostAtOnce(t, ctx, c, q)
	before := stageTotals(t, s, admin)
	var arms []armResult
	var rates []float64
	var seconds float64
	for round := range launchRateRounds {
		r, err := runWorkers(launchRateLaunches, most, apiLaunch(ctx, c, q))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		arms, rates, seconds = append(arms, r), append(rates, r.rate()), seconds+r.elapsed.Seconds()
		t.Logf("round %d: API with a network %.2f/s (%v)", round, r.rate(), r.elapsed.Round(time.Millisecond))
	}
	lat := pooled(arms, func(a armResult) []time.Duration { return a.up })
	gotest.L1Result("LaunchRateInRack/network", append([]benchfmt.Value{
		{Value: float64(len(lat)), Unit: "net-launches"}, {Value: float64(most), Unit: "net-workers"},
		{Value: launchNetOvercommit, Unit: "overcommit"}, {Value: launchNetRules, Unit: "rules"},
		{Value: seconds, Unit: "net-s"}, {Value: medianOf(rates), Unit: "net-launches/s"},
		{Value: ms(percentile(lat, 50)), Unit: "net-p50-ms"}, {Value: ms(percentile(lat, 99)), Unit: "net-p99-ms"},
		{Value: mean(lat), Unit: "net-up-ms"}, {Value: mean(pooled(arms, func(a armResult) []time.Duration { return a.down })), Unit: "net-down-ms"},
	}, stageMeans(t, before, stageTotals(t, s, admin), "net-")...)...)
}

// bootStageNames are the stages of ironvisor_boot_stage_seconds.
var bootStageNames = []string{"queue", "prepare", "vmm", "commit"}

// stageTotals reads the service's boot stage histograms from /metrics: the
// sum and the count of each stage, in the order of bootStageNames.
func stageTotals(t *testing.T, s server, admin string) [][2]float64 {
	t.Helper()
	body, err := apiv1.NewClient(s.url, admin, nil).Metrics(context.Background())
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	var out [][2]float64
	for _, stage := range bootStageNames {
		out = append(out, [2]float64{
			metricValue(body, fmt.Sprintf(`ironvisor_boot_stage_seconds_sum{stage=%q}`, stage)),
			metricValue(body, fmt.Sprintf(`ironvisor_boot_stage_seconds_count{stage=%q}`, stage)),
		})
	}
	return out
}

// stageMeans returns the mean of each boot stage over the boots between
// two stageTotals, in units PREFIXSTAGE-ms.
func stageMeans(t *testing.T, before, after [][2]float64, prefix string) []benchfmt.Value {
	t.Helper()
	var out []benchfmt.Value
	for i, stage := range bootStageNames {
		sum, count := after[i][0]-before[i][0], after[i][1]-before[i][1]
		if count == 0 {
			t.Fatalf("no %s boot stage in /metrics", stage)
		}
		out = append(out, benchfmt.Value{Value: sum / count * 1000, Unit: prefix + stage + "-ms"})
	}
	return out
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

// launchToRunning launches one instance of q and waits until it runs, as
// a user's tool does: describe long-polls while the instance is pending,
// so the answer comes when the service stores running. It returns the
// time from sending the launch to that answer.
func launchToRunning(ctx context.Context, c *apiv1.Client, q apiv1.LaunchRequest) (string, time.Duration, error) {
	start := time.Now()
	got, err := c.Launch(ctx, q)
	if err != nil {
		return "", 0, err
	}
	if len(got) != 1 {
		return "", 0, fmt.Errorf("launch answered %d instances", len(got))
	}
	in := got[0]
	deadline := start.Add(2 * time.Minute)
	for in.State == "pending" {
		if time.Now().After(deadline) {
			return in.ID, 0, fmt.Errorf("instance %s still pending after 2 minutes", in.ID)
		}
		if in, err = c.InstanceWait(ctx, got[0].ID, "pending", 30*time.Second); err != nil {
			return got[0].ID, 0, err
		}
	}
	if in.State != "running" {
		return in.ID, 0, fmt.Errorf("instance %s went %s (%s) instead of running", in.ID, in.State, in.Reason)
	}
	return in.ID, time.Since(start), nil
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
