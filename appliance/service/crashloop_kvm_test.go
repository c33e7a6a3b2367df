//go:build rack

// The crash-safety loop of issue 5 needs real VMMs (hardware KVM); it is
// compiled only with the rack tag and runs in appliance/service/racktest.

package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// Shape of the crash loop: IRONVISOR_CRASH_KILLS (default crashKills) kill
// -9s of the appliance, each after a random delay of up to crashMaxDelay of
// crashClients clients driving instances (each keeps at most
// crashPerClient not terminated) and the network client (every other
// kill comes just after a random step of its round instead), and one kill
// in crashStartupKillEvery while the appliance is still starting
// (reattaching and reconciling).
const (
	crashKills            = 30
	crashClients          = 3
	crashPerClient        = 2
	crashMaxDelay         = 1000 * time.Millisecond
	crashStartupKillEvery = 8
	crashProgressEvery    = 25
	// crashStepWithin bounds the wait for a step of the network client's
	// round on the kills timed by it.
	crashStepWithin = 15 * time.Second
)

// TestCrashLoopOnKVM is issue 5's crash-safety test through the real API and
// the real binary: "ironvisor serve" runs as a child while concurrent
// clients launch, stop, start and terminate nano instances of a tiny PVH
// guest, and is killed with SIGKILL at random points, crashKills times.
// After every restart, before any client acts again, it checks:
//
//   - every acknowledged launch exists, and every instance is in a settled
//     state (running, stopped or terminated), consistent with what was
//     acknowledged (a terminated instance had a terminate sent, an
//     acknowledged terminate is terminated, an acknowledged stop with no
//     start since is not running);
//   - the running instances are exactly those with a VMM: each has its
//     cgroup with a live ironvisor-vmm process and its jail directory, the
//     appliance reattached or started again (issue 12: an instance whose
//     VMM did not survive the kill runs again) at least that many VMMs,
//     once its restart pass is done, and there is no other
//     VMM process, cgroup or jail directory (the final terminations, which
//     need the supervisor to know each VMM, check the reattachment too);
//   - terminated instances have no volume, console log or VMM directory;
//   - the appliance's network namespace holds a bridge per stored network
//     and a tap per running NIC and no other; no nftables rule or set
//     names a link, mark or tenant or pool address the store lacks; the
//     uplink carries only the public IPs of running instances; forwards
//     and public IPs name only live instances (checkNet);
//   - images/, volumes/ and net/ under the data directory match the
//     records, with no temporary file (checkFiles);
//   - at each kill, the store holds no more networks, groups, forwards,
//     public IPs and images than one round leaves, and no more tenants,
//     tokens or other fixed records than before (checkStoreCounts);
//   - usage (GET /v1/usage) never goes backwards, per instance or in total,
//     against every answer any client received before.
//
// The appliance runs in a network namespace of its own (newCrashHost), and
// only this test's instances' cgroups and VMM processes count: the host
// may run other appliances.
func TestCrashLoopOnKVM(t *testing.T) {
	needKVM(t)
	seed := uint64(time.Now().UnixNano())
	kills := crashEnvInt(t, "IRONVISOR_CRASH_KILLS", crashKills)
	t.Logf("crash loop: %d kills, %d clients and the network client, seed %d", kills, crashClients, seed)
	r := rand.New(rand.NewPCG(seed, 5))
	bin := rackIronvisor
	if _, err := os.Stat(bin); err != nil {
		bin = buildBinary(t)
	}
	data := filepath.Join(t.TempDir(), "data")
	m := &crashModel{insts: map[string]*crashInst{}, usage: map[string]int64{}}
	t.Cleanup(func() { killVMMs(t, data) }) // after the appliance's own cleanup
	h := newCrashHost(t)
	h.reaper = startOrphanReaper(t)

	a := startCrashApp(t, h, bin, data)
	url := a.waitUp(t) // each later start sets url anew
	s := server{bin: bin, data: data, url: url}
	admin := apiClient{url: url, token: s.adminToken(t), hc: h.hc}
	var tenant, netTenant apiv1.TenantCreated
	ctx := context.Background()
	for name, out := range map[string]*apiv1.TenantCreated{"crash": &tenant, "crashnet": &netTenant} {
		if _, err := admin.do(ctx, "POST", "/v1/tenants", map[string]string{"name": name}, out); err != nil {
			t.Fatal(err)
		}
	}
	m.netTenant = netTenant.ID
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "tiny.elf"), filepath.Join(dir, "initrd")
	if err := os.WriteFile(kernel, testutil.PVHHello("CRASH-LOOP\n", testutil.ExitHalt), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initrd, bytes.Repeat([]byte("crash-loop upload\n"), 32<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	nc := &netClient{m: m, c: apiClient{url: url, token: netTenant.Token, hc: h.hc}, admin: admin, kernel: kernel, rd: initrd}
	if code, err := nc.upload(ctx, "tiny"); err != nil {
		t.Fatalf("upload tiny: %d %v", code, err)
	}
	var first map[string]int // store counts at the first kill

	w := watchLoop(t)
	defer w.stop()
	t.Cleanup(func() {
		if t.Failed() {
			w.mu.Lock()
			a := w.app
			w.mu.Unlock()
			t.Logf("DIAG appliance output:\n%s", a.output())
			t.Logf("DIAG %s", crashDiag(data))
		}
	})
	start := time.Now()
	startupKills := 0
	var upTime, checkTime time.Duration // summed, for the progress lines
	for kill := 1; kill <= kills; kill++ {
		w.at(fmt.Sprintf("kill %d: start", kill), a)
		if kill > 1 {
			counts := storeCounts(t, data)
			if first == nil {
				first = counts
			}
			checkStoreCounts(t, counts, first, kill-1)
			a = startCrashApp(t, h, bin, data)
			w.at(fmt.Sprintf("kill %d: start", kill), a)
			if kill%crashStartupKillEvery == 0 {
				// Somewhere in start-up: store, reattach, reconcile, listen.
				a.killAfter(t, time.Duration(r.Int64N(int64(400*time.Millisecond))))
				startupKills++
				continue
			}
			url = a.waitUp(t)
			upTime += time.Since(a.started)
		}
		w.at(fmt.Sprintf("kill %d: check", kill), a)
		t0 := time.Now()
		admin.url, nc.c.url, nc.admin.url = url, url, url
		m.check(t, h, admin, nc.c, data, a.reattached(t)+a.restarted(t))
		checkTime += time.Since(t0)
		ctx, cancel := context.WithCancel(context.Background())
		nc.steps = make(chan string, 256)
		var wg sync.WaitGroup
		for c := 0; c < crashClients; c++ {
			wg.Add(1)
			go func(c int, seed uint64) {
				defer wg.Done()
				m.client(ctx, apiClient{url: url, token: tenant.Token, hc: h.hc}, c, rand.New(rand.NewPCG(seed, uint64(c))))
			}(c, r.Uint64())
		}
		wg.Add(2)
		go func() { defer wg.Done(); m.usageReader(ctx, admin) }()
		go func(seed uint64) { defer wg.Done(); nc.run(ctx, rand.New(rand.NewPCG(seed, 99))) }(r.Uint64())
		w.at(fmt.Sprintf("kill %d: clients", kill), a)
		if kill%2 == 0 {
			// Just after a step of the network client's round, whatever
			// the host's speed.
			nc.waitStep(netSteps[r.IntN(len(netSteps))], crashStepWithin)
			a.killAfter(t, time.Duration(r.Int64N(int64(crashMaxDelay/4))))
		} else {
			a.killAfter(t, time.Duration(r.Int64N(int64(crashMaxDelay))))
		}
		cancel()
		w.at(fmt.Sprintf("kill %d: clients ending", kill), a)
		wg.Wait()
		if kill%crashProgressEvery == 0 {
			m.progress(t, kill, kills, time.Since(start))
			t.Logf("network client: %d rounds complete, %d NIC instances", nc.rounds, nc.nicInstances)
			t.Logf("start to READY %v and checks %v on average", (upTime / time.Duration(kill)).Round(time.Millisecond), (checkTime / time.Duration(kill)).Round(time.Millisecond))
		}
	}
	t.Logf("%d kills (%d during start-up) in %v; network client: %d rounds complete, %d NIC instances",
		kills, startupKills, time.Since(start).Round(time.Second), nc.rounds, nc.nicInstances)
	if kills >= 10 && (nc.rounds == 0 || nc.nicInstances == 0) {
		t.Fatalf("the network client completed %d rounds and launched %d NIC instances: forwards, public IPs and NICs were not exercised", nc.rounds, nc.nicInstances)
	}

	// A last start: check, then delete and terminate everything and check
	// that nothing is left, in the kernel, the files or the store.
	checkStoreCounts(t, storeCounts(t, data), first, kills)
	a = startCrashApp(t, h, bin, data)
	w.at("final", a)
	url = a.waitUp(t)
	admin.url, nc.c.url, nc.admin.url = url, url, url
	m.check(t, h, admin, nc.c, data, a.reattached(t)+a.restarted(t))
	nc.cleanAll(t)
	m.terminateAll(t, apiClient{url: url, token: tenant.Token, hc: h.hc})
	m.check(t, h, admin, nc.c, data, 0)
	if n := len(vmmProcesses(t, data)); n != 0 {
		t.Fatalf("%d VMM processes left after terminating every instance", n)
	}
	m.progress(t, kills, kills, time.Since(start))
	a.stop(t)
	counts := storeCounts(t, data)
	for b, want := range map[store.Bucket]int{store.Networks: 0, store.SecurityGroups: 0, store.PortForwards: 0, store.PublicIPs: 0, store.Images: 1} {
		if counts[string(b)] != want {
			t.Fatalf("after deleting everything the store holds %d %s records, want %d", counts[string(b)], b, want)
		}
	}
	if counts["instances live"] != 0 {
		t.Fatalf("after terminating everything the store holds %d instances not terminated", counts["instances live"])
	}
}

// loopWatch logs where the loop is when it makes no progress for a while,
// so that a hang shows its phase and the appliance's output instead of
// only the rack's timeout.
type loopWatch struct {
	mu    sync.Mutex
	phase string
	app   *crashApp
	done  chan struct{}
}

// watchLoop starts the watch; stop ends it.
func watchLoop(t *testing.T) *loopWatch {
	w := &loopWatch{done: make(chan struct{})}
	go func() {
		const every = time.Minute
		tick := time.NewTicker(every)
		defer tick.Stop()
		last := ""
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			w.mu.Lock()
			phase, a := w.phase, w.app
			w.mu.Unlock()
			if phase == last && a != nil {
				out := a.output()
				t.Logf("no progress for %v at %q; appliance output so far:\n%s", every, phase, out[max(0, len(out)-3000):])
			}
			last = phase
		}
	}()
	return w
}

// at records the loop's phase and current appliance.
func (w *loopWatch) at(phase string, a *crashApp) {
	w.mu.Lock()
	w.phase, w.app = phase, a
	w.mu.Unlock()
}

// stop ends the watch.
func (w *loopWatch) stop() { close(w.done) }

// crashApp is one run of "ironvisor serve" in the crash loop.
type crashApp struct {
	cmd     *exec.Cmd
	started time.Time
	ready   chan string   // the API URL, once READY is printed
	done    chan struct{} // closed once the process exited
	mu      sync.Mutex
	log     bytes.Buffer // stdout and stderr
	// again receives how many instances the restart pass started again,
	// once it is done.
	again chan int
}

// startCrashApp starts the appliance on data; it is killed at the end of
// the test if still running.
func startCrashApp(t *testing.T, h *crashHost, bin, data string) *crashApp {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &crashApp{ready: make(chan string, 1), again: make(chan int, 1), done: make(chan struct{}), started: time.Now()}
	a.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--insecure-http"}, h.serveArgs()...)...)
	a.cmd.Stdout, a.cmd.Stderr = pw, pw
	// Started from a thread in the namespace, the appliance lives there.
	h.reaper.mu.Lock() // so that the reaper sees the pid as ours
	err = netcfg.InNetNS(h.ns, a.cmd.Start)
	if err == nil {
		h.reaper.mine[a.cmd.Process.Pid] = true
	}
	h.reaper.mu.Unlock()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.log.WriteString(line + "\n")
			a.mu.Unlock()
			if url, ok := strings.CutPrefix(line, "IRONVISOR READY api="); ok {
				a.ready <- url
			}
			if m := startedAgainLine.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				a.again <- n
			}
		}
		pr.Close()
	}()
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() { a.cmd.Process.Kill(); <-a.done })
	return a
}

// output returns what the appliance printed so far.
func (a *crashApp) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// waitUp waits for the READY line and returns the API URL.
func (a *crashApp) waitUp(t *testing.T) string {
	t.Helper()
	select {
	case url := <-a.ready:
		return url
	case <-a.done:
		t.Fatalf("appliance exited before READY (%v):\n%s", a.cmd.ProcessState, a.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("appliance not READY within 2 minutes:\n%s", a.output())
	}
	return ""
}

// killAfter sends SIGKILL after d and waits for the process to end. An
// appliance that exits on its own before is a failure.
func (a *crashApp) killAfter(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-a.done:
		t.Fatalf("appliance exited on its own (%v):\n%s", a.cmd.ProcessState, a.output())
	case <-time.After(d):
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// stop ends the appliance with SIGTERM and expects a clean exit.
func (a *crashApp) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if !a.cmd.ProcessState.Success() {
			t.Fatalf("appliance exited with %v after SIGTERM:\n%s", a.cmd.ProcessState, a.output())
		}
	case <-time.After(time.Minute):
		t.Fatalf("appliance did not exit after SIGTERM:\n%s", a.output())
	}
}

// reattachedLine is the service's start-up log line about adopted VMMs.
var reattachedLine = regexp.MustCompile(`reattached (\d+) VMMs`)

// reattached returns how many VMMs the appliance said it reattached.
func (a *crashApp) reattached(t *testing.T) int {
	t.Helper()
	out := a.output()
	m := reattachedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in the appliance's output:\n%s", reattachedLine, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// startedAgainLine is the service's log line at the end of its restart
// pass (orchestrator.StartAgain).
var startedAgainLine = regexp.MustCompile(`started again (\d+) of \d+ instances`)

// restarted waits for the end of the appliance's restart pass and returns
// how many instances it started again.
func (a *crashApp) restarted(t *testing.T) int {
	t.Helper()
	select {
	case n := <-a.again:
		return n
	case <-a.done:
		t.Fatalf("appliance exited before its restart pass ended (%v):\n%s", a.cmd.ProcessState, a.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the restart pass did not end within 2 minutes:\n%s", a.output())
	}
	return 0
}

// apiClient calls the API with one token. Unlike server.call it reports
// transport errors, which are expected once the appliance is killed.
type apiClient struct {
	url, token string
	hc         *http.Client // nil: http.DefaultClient
}

// do sends a request (body as JSON when not nil) and decodes a 2xx answer
// into out when out is not nil.
func (c apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.url, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	return c.send(req, out)
}

// send sends req with the token and decodes a 2xx answer into out when
// out is not nil.
func (c apiClient) send(req *http.Request, out any) (int, error) {
	method, path := req.Method, req.URL.Path
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %.200s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// crashInst is what the loop knows about one instance from the answers it
// received.
type crashInst struct {
	id    string
	owner int    // the client that drives it
	state string // the last state an answer or a check showed
	// termSent: a terminate was sent (it may have happened); termAcked: one
	// was answered with terminated.
	termSent, termAcked bool
	// stopAcked: a stop was answered (or stopped was seen at a check) and
	// no start was sent since, so the instance may not run.
	stopAcked bool
}

// crashModel holds the acknowledged history of the loop.
type crashModel struct {
	mu    sync.Mutex
	insts map[string]*crashInst
	// usage holds the most running milliseconds any answer showed, per
	// instance and in total ("").
	usage map[string]int64
	// counts of answers by operation and outcome, for the progress lines.
	ops      map[string]int
	launched int
	// netTenant is the network client's tenant: its instances are the
	// network client's (crashNetOwner).
	netTenant string
}

// count records one answer of op with outcome.
func (m *crashModel) count(op string, code int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops == nil {
		m.ops = map[string]int{}
	}
	switch {
	case err == nil:
		m.ops[op+" ok"]++
	case code == 0:
		m.ops[op+" no answer"]++
	default:
		m.ops[fmt.Sprintf("%s %d", op, code)]++
	}
}

// mine returns the instances client owner drives and may still act on.
func (m *crashModel) mine(owner int) []*crashInst {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*crashInst
	for _, in := range m.insts {
		if in.owner == owner && !in.termSent {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b *crashInst) int { return strings.Compare(a.id, b.id) })
	return out
}

// fewest returns the instance client that drives the fewest instances
// not terminated and with no terminate sent; m.mu is held.
func (m *crashModel) fewest() int {
	n := make([]int, crashClients)
	for _, in := range m.insts {
		if in.owner >= 0 && !in.termSent && in.state != "terminated" {
			n[in.owner]++
		}
	}
	return slices.Index(n, slices.Min(n))
}

// client drives its own instances at random until ctx ends (the kill).
func (m *crashModel) client(ctx context.Context, c apiClient, owner int, r *rand.Rand) {
	for ctx.Err() == nil {
		mine := m.mine(owner)
		if len(mine) < crashPerClient && r.IntN(3) != 0 {
			var got []instance
			code, err := c.do(ctx, "POST", "/v1/instances", map[string]any{"image": "tiny", "type": "nano"}, &got)
			m.count("launch", code, err)
			if err == nil {
				m.mu.Lock()
				for _, in := range got {
					m.insts[in.ID] = &crashInst{id: in.ID, owner: owner, state: in.State}
					m.launched++
				}
				m.mu.Unlock()
				if len(got) == 1 {
					m.settle(ctx, c, got[0].ID)
				}
				continue
			}
			// Most likely InsufficientCapacity: act on an own instance.
		}
		if len(mine) == 0 {
			// Others hold the capacity; give them a moment.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		in := mine[r.IntN(len(mine))]
		var cur instance
		if _, err := c.do(ctx, "GET", "/v1/instances/"+in.id, nil, &cur); err != nil {
			continue
		}
		switch {
		case r.IntN(5) == 0 || cur.State == "stopping" || cur.State == "shutting-down":
			m.mu.Lock()
			in.termSent = true
			m.mu.Unlock()
			var got instance
			code, err := c.do(ctx, "DELETE", "/v1/instances/"+in.id, nil, &got)
			m.count("terminate", code, err)
			if err == nil {
				m.mu.Lock()
				in.state, in.termAcked = got.State, got.State == "terminated"
				m.mu.Unlock()
			}
		case cur.State == "stopped":
			m.mu.Lock()
			in.stopAcked = false
			m.mu.Unlock()
			var got instance
			code, err := c.do(ctx, "POST", "/v1/instances/"+in.id+"/start", nil, &got)
			m.count("start", code, err)
			if err == nil {
				m.mu.Lock()
				in.state = got.State
				m.mu.Unlock()
				m.settle(ctx, c, in.id)
			}
		default: // pending or running
			var got instance
			code, err := c.do(ctx, "POST", "/v1/instances/"+in.id+"/stop", map[string]any{"force": true}, &got)
			m.count("stop", code, err)
			if err == nil {
				m.mu.Lock()
				in.state = got.State
				in.stopAcked = got.State == "stopped"
				m.mu.Unlock()
			}
		}
	}
}

// settle waits, for at most a few seconds, until instance id leaves
// pending, so that the clients act on booted instances as well as on
// booting ones.
func (m *crashModel) settle(ctx context.Context, c apiClient, id string) {
	deadline := time.Now().Add(5 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		var cur instance
		if _, err := c.do(ctx, "GET", "/v1/instances/"+id, nil, &cur); err != nil || cur.State != "pending" {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond): // the API has no state stream
		}
	}
}

// usageWindow asks for all usage there can be.
const usageWindow = "/v1/usage?from=1577836800&to=4102444800" // 2020 to 2100

// usageReport is the part of GET /v1/usage the loop reads.
type usageReport struct {
	Tenants []struct {
		Total struct {
			RunningMS int64 `json:"running_ms"`
		} `json:"total"`
		Instances []struct {
			InstanceID string `json:"instance_id"`
			Total      struct {
				RunningMS int64 `json:"running_ms"`
			} `json:"total"`
		} `json:"instances"`
	} `json:"tenants"`
}

// usageReader records usage answers while the clients run.
func (m *crashModel) usageReader(ctx context.Context, c apiClient) {
	for ctx.Err() == nil {
		var u usageReport
		code, err := c.do(ctx, "GET", usageWindow, nil, &u)
		m.count("usage", code, err)
		if err == nil {
			m.mu.Lock()
			m.raiseUsage(u)
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// raiseUsage records the figures of u; m.mu is held.
func (m *crashModel) raiseUsage(u usageReport) {
	var total int64
	for _, tu := range u.Tenants {
		total += tu.Total.RunningMS
		for _, iu := range tu.Instances {
			m.usage[iu.InstanceID] = max(m.usage[iu.InstanceID], iu.Total.RunningMS)
		}
	}
	m.usage[""] = max(m.usage[""], total)
}

// check verifies the invariants after a restart, with no client running;
// reattached counts the VMMs the appliance reattached or started again.
func (m *crashModel) check(t *testing.T, h *crashHost, admin, netTenant apiClient, data string, reattached int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list := settledList(t, ctx, admin, data)
	view := readNetView(t, admin, netTenant, list)
	m.mu.Lock()
	defer m.mu.Unlock()
	byID := map[string]instance{}
	for _, in := range list {
		byID[in.ID] = in
	}
	for id := range m.insts {
		if _, ok := byID[id]; !ok {
			t.Fatalf("acknowledged instance %s is gone", id)
		}
	}
	// A terminate the kill cut off that did not happen gives the instance
	// back to its client, which would otherwise never act on it again
	// while it still holds capacity (and the store counts grow).
	for _, in := range list {
		if k := m.insts[in.ID]; k != nil && in.State != "terminated" && k.termSent && !k.termAcked {
			k.termSent = false
		}
	}
	running := map[string]bool{}
	for _, in := range list {
		k := m.insts[in.ID]
		if k == nil {
			// A launch whose answer the kill cut off: it happened. The
			// client with the fewest instances drives it from now on
			// (the one that sent it had room for it, so each keeps at
			// most crashPerClient).
			k = &crashInst{id: in.ID, owner: m.fewest()}
			if in.TenantID == m.netTenant {
				k.owner = crashNetOwner
			}
			m.insts[in.ID] = k
		}
		switch {
		case in.State != "running" && in.State != "stopped" && in.State != "terminated":
			t.Fatalf("instance %s is %s (%s) after the restart: not settled", in.ID, in.State, in.Reason)
		case in.State == "terminated" && !k.termSent:
			t.Fatalf("instance %s is terminated (%s), but no terminate was sent", in.ID, in.Reason)
		case k.termAcked && in.State != "terminated":
			t.Fatalf("instance %s: terminate was acknowledged, but it is %s (%s)", in.ID, in.State, in.Reason)
		case k.stopAcked && in.State == "running":
			t.Fatalf("instance %s: stop was acknowledged and no start sent, but it is running (%s)", in.ID, in.Reason)
		}
		k.state = in.State
		k.stopAcked = in.State == "stopped"
		if in.State == "terminated" {
			k.termSent, k.termAcked = true, true
			for _, p := range []string{
				filepath.Join(data, "volumes", in.ID+".img"),
				filepath.Join(data, "consoles", in.ID+".log"),
				filepath.Join(data, "vmm", "vmm", in.ID),
			} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("terminated instance %s left %s (%v)", in.ID, p, err)
				}
			}
		}
		if in.State == "running" {
			running[in.ID] = true
		}
	}
	// A VMM that was exiting at the kill (its stop had begun) may be
	// adopted and end just after, so more may have been reattached.
	if reattached < len(running) {
		t.Fatalf("the appliance reattached or started again %d VMMs, %d instances are running", reattached, len(running))
	}
	want := slices.Sorted(maps.Keys(running))
	if got := cgroupLeaves(t, byID); !slices.Equal(got, want) {
		t.Fatalf("VMM cgroups %v, running instances %v", got, want)
	}
	if got := dirNames(t, filepath.Join(data, "vmm", "jail")); !slices.Equal(got, want) {
		t.Fatalf("jail directories %v, running instances %v", got, want)
	}
	procs := vmmProcesses(t, data)
	var holders []string
	for pid, id := range procs {
		if !running[id] {
			t.Fatalf("VMM process %d (cgroup %q) belongs to no running instance (running: %v)", pid, id, want)
		}
		holders = append(holders, id)
	}
	if slices.Sort(holders); !slices.Equal(slices.Compact(holders), want) {
		t.Fatalf("VMM processes for %v, running instances %v", holders, want)
	}
	checkNet(t, h, data, view)
	var u usageReport
	if _, err := admin.do(ctx, "GET", usageWindow, nil, &u); err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(m.usage)
	m.raiseUsage(u)
	var total int64
	got := map[string]int64{}
	for _, tu := range u.Tenants {
		total += tu.Total.RunningMS
		for _, iu := range tu.Instances {
			got[iu.InstanceID] = iu.Total.RunningMS
		}
	}
	got[""] = total
	for id, ms := range before {
		if got[id] < ms {
			t.Fatalf("usage went backwards for %q (\"\" is the total): %d ms after the restart, %d ms answered before", id, got[id], ms)
		}
	}
}

// terminateAll terminates every instance that is not terminated yet.
func (m *crashModel) terminateAll(t *testing.T, c apiClient) {
	t.Helper()
	m.mu.Lock()
	var ids []string
	for id, in := range m.insts {
		if in.state != "terminated" {
			ids = append(ids, id)
			in.termSent = true
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		var got instance
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_, err := c.do(ctx, "DELETE", "/v1/instances/"+id, nil, &got)
		cancel()
		if err != nil || got.State != "terminated" {
			t.Fatalf("terminate %s: %+v %v", id, got, err)
		}
		m.mu.Lock()
		m.insts[id].termAcked = true
		m.mu.Unlock()
	}
}

// progress logs one sparse progress line.
func (m *crashModel) progress(t *testing.T, kill, kills int, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	states := map[string]int{}
	for _, in := range m.insts {
		states[in.state]++
	}
	keys := slices.Sorted(maps.Keys(m.ops))
	var ops []string
	for _, k := range keys {
		ops = append(ops, fmt.Sprintf("%s=%d", k, m.ops[k]))
	}
	t.Logf("kill %d/%d after %v: %d launches acknowledged, states %v, usage %d ms; answers: %s",
		kill, kills, elapsed.Round(time.Second), m.launched, states, m.usage[""], strings.Join(ops, " "))
}

// settledList returns the instance list once every VMM cgroup of its
// instances holds a process and they, and the VMM processes, are exactly
// the running instances' (within 10 s, then the last list; check reports
// what differs). A VMM
// that was exiting at the kill is adopted and ends just after the
// restart: until its cleanup and exit report are through, its cgroup is
// empty and its instance still shows running.
func settledList(t *testing.T, ctx context.Context, admin apiClient, data string) []instance {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list []instance
		if _, err := admin.do(ctx, "GET", "/v1/instances", nil, &list); err != nil {
			t.Fatal(err)
		}
		var running []string
		ours := map[string]instance{}
		for _, in := range list {
			ours[in.ID] = in
			if in.State == "running" {
				running = append(running, in.ID)
			}
		}
		slices.Sort(running)
		leaves, empty, _ := vmmCgroups(t, ours)
		var holders []string
		for _, id := range vmmProcesses(t, data) {
			holders = append(holders, id)
		}
		slices.Sort(holders)
		settled := empty == "" && slices.Equal(leaves, running) && slices.Equal(holders, running)
		if settled || time.Now().After(deadline) {
			return list
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupLeaves lists the VMM cgroups (jail's default parent) of the
// instances in ours, failing on one that holds no process.
func cgroupLeaves(t *testing.T, ours map[string]instance) []string {
	t.Helper()
	ids, empty, err := vmmCgroups(t, ours)
	if empty != "" {
		in := ours[empty]
		t.Fatalf("VMM cgroup %s holds no process (%v); its instance is %s (%s)", empty, err, in.State, in.Reason)
	}
	return ids
}

// vmmCgroups lists the VMM cgroups (jail's default parent) of the
// instances in ours and names the first that holds no process, with the
// error reading its cgroup.procs. The parent is the host's: other
// appliances' VMMs (other tests, on a shared host) have theirs there too,
// and ids are random, so an id of ours is this appliance's.
func vmmCgroups(t *testing.T, ours map[string]instance) (ids []string, empty string, err error) {
	t.Helper()
	mnt, err := jail.CgroupMount()
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(mnt, jail.DefaultCgroupName)
	for _, id := range dirNames(t, parent) {
		if _, ok := ours[id]; ok {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		b, err := os.ReadFile(filepath.Join(parent, id, "cgroup.procs"))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return ids, id, err
		}
	}
	return ids, "", nil
}

// dirNames lists the directories in dir, sorted (none if dir is missing).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// vmmProcesses maps the pid of every live ironvisor-vmm process (jail
// names the VMM so) of the appliance on data (its log, the VMM's stdout,
// is under data) to the leaf of its cgroup.
func vmmProcesses(t *testing.T, data string) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.HasPrefix(cmd, []byte("ironvisor-vmm\x00")) {
			continue // gone, a zombie (empty cmdline) or not a VMM
		}
		if log, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", pid)); err != nil || !strings.HasPrefix(log, data+"/") {
			continue // another appliance's
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		out[pid] = cgroupLeaf(string(cg))
	}
	return out
}

// cgroupLeaf returns the last element of the cgroup v2 path in the
// contents of /proc/PID/cgroup (its "0::" line; a host with cgroup v1
// hierarchies too lists them first).
func cgroupLeaf(procCgroup string) string {
	for _, line := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Base(p)
		}
	}
	return ""
}

// killVMMs ends the VMMs the appliance on data left and removes their
// cgroups, so that a failed run leaves nothing running on the host.
func killVMMs(t *testing.T, data string) {
	for pid, id := range vmmProcesses(t, data) {
		syscall.Kill(pid, syscall.SIGKILL)
		mnt, err := jail.CgroupMount()
		if err != nil || !jail.ValidID(id) {
			continue
		}
		leaf := filepath.Join(mnt, jail.DefaultCgroupName, id)
		deadline := time.Now().Add(5 * time.Second)
		for os.Remove(leaf) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // until the killed VMM is gone
		}
	}
}

// crashDiag describes the VMM cgroups, processes and jail directories.
func crashDiag(data string) string {
	var b strings.Builder
	mnt, _ := jail.CgroupMount()
	parent := filepath.Join(mnt, jail.DefaultCgroupName)
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		procs, _ := os.ReadFile(filepath.Join(parent, e.Name(), "cgroup.procs"))
		ev, _ := os.ReadFile(filepath.Join(parent, e.Name(), "cgroup.events"))
		fmt.Fprintf(&b, "cgroup %s procs %q events %q\n", e.Name(), procs, ev)
		for _, f := range strings.Fields(string(procs)) {
			st, _ := os.ReadFile("/proc/" + f + "/status")
			cmd, _ := os.ReadFile("/proc/" + f + "/cmdline")
			cg, _ := os.ReadFile("/proc/" + f + "/cgroup")
			fmt.Fprintf(&b, "  pid %s cmdline %q cgroup %q status %.300q\n", f, cmd, cg, st)
		}
	}
	// Exited VMMs not yet reaped keep their cgroup busy.
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		st, err := os.ReadFile("/proc/" + p.Name() + "/status")
		if err == nil && bytes.Contains(st, []byte("\nState:\tZ")) {
			fmt.Fprintf(&b, "zombie %s status %.200q\n", p.Name(), st)
		}
	}
	jails, _ := os.ReadDir(filepath.Join(data, "vmm", "jail"))
	for _, j := range jails {
		fmt.Fprintf(&b, "jail dir %s\n", j.Name())
	}
	return b.String()
}
