package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
)

// recRunner records what the control plane asks of a Runner. It stands in
// for the supervisor, whose real VMMs need /dev/kvm (its own tests and the
// rack tests cover them); here it checks the wiring.
type recRunner struct {
	mu      sync.Mutex
	started map[string]orchestrator.RunSpec
	stops   []string
	failID  string
}

func (r *recRunner) Start(_ context.Context, s orchestrator.RunSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.ID == r.failID {
		return fmt.Errorf("jail: no such device")
	}
	r.started[s.ID] = s
	return nil
}

func (r *recRunner) Stop(_ context.Context, id string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops = append(r.stops, fmt.Sprintf("%s force=%v", id, force))
	return nil
}

func (r *recRunner) Console(_ context.Context, id string, off int64, max int) ([]byte, int64, error) {
	b := []byte("hello from " + id)
	return b, off + int64(len(b)), nil
}

// waitState waits until an instance reaches state, with a deadline: each
// request long-polls while the instance stays in the state it last had.
func (e *env) waitState(tok, id, state string) apiv1.Instance {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var in apiv1.Instance
	e.must(200, "GET", "/v1/instances/"+id, tok, nil, &in)
	for in.State != state {
		left := time.Until(deadline)
		if left <= 0 {
			e.t.Fatalf("instance %s is %s (%s), want %s", id, in.State, in.Reason, state)
		}
		q := url.Values{"while": {in.State}, "wait": {left.Round(time.Millisecond).String()}}
		e.must(200, "GET", "/v1/instances/"+id+"?"+q.Encode(), tok, nil, &in)
	}
	return in
}

// launchRunning launches one nano instance of image tiny as tok and
// waits until it runs.
func (e *env) launchRunning(tok string) apiv1.Instance {
	e.t.Helper()
	var got []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &got)
	return e.waitState(tok, got[0].ID, "running")
}

func TestRunnerWiring(t *testing.T) {
	rr := &recRunner{started: map[string]orchestrator.RunSpec{}}
	e := newEnv(t, rr)
	_, tok := e.tenant("acme")
	e.tinyImage("tiny")
	in := e.launchRunning(tok)
	id := in.ID
	rr.mu.Lock()
	spec := rr.started[id]
	rr.mu.Unlock()
	if spec.VCPUs != 1 || spec.MemBytes != 64<<20 || spec.Cmdline != "console=ttyS0" || spec.Initrd == "" || spec.ConsoleLog == "" {
		t.Fatalf("run spec %+v", spec)
	}
	if _, err := os.Stat(spec.Kernel); err != nil {
		t.Fatalf("kernel path: %v", err)
	}
	var con apiv1.ConsoleOutput
	e.must(200, "GET", "/v1/instances/"+id+"/console?offset=3", tok, nil, &con)
	if !con.Available || con.Output != "hello from "+id || con.NextOffset != int64(3+len(con.Output)) {
		t.Fatalf("console %+v", con)
	}
	e.must(200, "POST", "/v1/instances/"+id+"/reboot", tok, nil, &in)
	e.must(200, "POST", "/v1/instances/"+id+"/stop", tok, nil, &in)
	if in.State != "stopped" {
		t.Fatalf("stop: %+v", in)
	}
	// The guest powering off on its own: the exit notification stops it.
	e.must(200, "POST", "/v1/instances/"+id+"/start", tok, nil, nil)
	e.waitState(tok, id, "running")
	e.cp.VMMExited(id, "guest powered off", false)
	if in = e.waitState(tok, id, "stopped"); in.Reason != "guest powered off" {
		t.Fatalf("after exit: %+v", in)
	}
	e.must(200, "DELETE", "/v1/instances/"+id, tok, nil, &in)
	// Both boots (launch, start) were timed, stage by stage.
	e.cp.Wait()
	_, metrics := e.do("GET", "/metrics", e.admin, nil)
	for _, stage := range []string{"queue", "prepare", "vmm", "commit"} {
		if want := fmt.Sprintf(`ironvisor_boot_stage_seconds_count{stage=%q} 2`, stage); !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	rr.mu.Lock()
	stops := fmt.Sprint(rr.stops)
	rr.mu.Unlock()
	want := fmt.Sprintf("[%s force=true %s force=false]", id, id)
	if stops != want {
		t.Fatalf("stops %s, want %s", stops, want)
	}
	// A VMM that fails to start leaves the instance stopped with the reason.
	failing := e.launchRunning(tok).ID
	e.cp.Wait()
	rr.mu.Lock()
	rr.failID = failing
	rr.mu.Unlock()
	e.must(200, "POST", "/v1/instances/"+failing+"/stop", tok, `{"force":true}`, nil)
	e.must(200, "POST", "/v1/instances/"+failing+"/start", tok, nil, nil)
	if in = e.waitState(tok, failing, "stopped"); in.Reason != "vmm start failed: jail: no such device" {
		t.Fatalf("failed start: %+v", in)
	}
}

// gateRunner behaves like the supervisor where it matters for races: a
// Start blocks until the test opens its gate, stopping or starting the
// wrong VMM is an error, and Forget refuses a running VMM.
type gateRunner struct {
	gate     chan struct{}
	entered  chan string
	mu       sync.Mutex
	running  map[string]bool
	forgot   map[string]bool
	problems []string
}

func (g *gateRunner) Start(_ context.Context, s orchestrator.RunSpec) error {
	g.entered <- s.ID
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[s.ID] {
		g.problems = append(g.problems, "second start of "+s.ID)
		return fmt.Errorf("start %s: already running", s.ID)
	}
	if g.forgot[s.ID] {
		g.problems = append(g.problems, "start after forget of "+s.ID)
	}
	g.running[s.ID] = true
	return nil
}

func (g *gateRunner) Stop(_ context.Context, id string, _ bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running[id] {
		return fmt.Errorf("stop %s: not running", id)
	}
	delete(g.running, id)
	return nil
}

func (g *gateRunner) Forget(id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[id] {
		g.problems = append(g.problems, "forget of running "+id)
		return fmt.Errorf("forget %s: running", id)
	}
	g.forgot[id] = true
	return nil
}

func (g *gateRunner) Console(context.Context, string, int64, int) ([]byte, int64, error) {
	return nil, 0, nil
}

// TestLifecycleCallsWhileBooting stops, terminates and starts again
// instances whose VMM is still starting: each call waits for the start
// (it runs under the instance's lock) and then acts on the VMM it left, so
// no VMM outlives its instance's terminate and none is started twice.
func TestLifecycleCallsWhileBooting(t *testing.T) {
	g := &gateRunner{gate: make(chan struct{}), entered: make(chan string, 8), running: map[string]bool{}, forgot: map[string]bool{}}
	e := newEnv(t, g)
	_, tok := e.tenant("acme")
	e.tinyImage("tiny")
	launch := func() string {
		var got []apiv1.Instance
		e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &got)
		select {
		case id := <-g.entered:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("the VMM start did not begin")
		}
		return ""
	}
	// call sends a request while the start is held, opens the gate once
	// the request is in flight, and returns the answer's code and body.
	call := func(method, path string) (int, apiv1.Instance) {
		type answer struct {
			code int
			body []byte
		}
		done := make(chan answer, 1)
		go func() {
			code, b := e.do(method, path, tok, nil)
			done <- answer{code, b}
		}()
		select {
		case a := <-done:
			t.Fatalf("%s %s answered (%d %s) while the start was held", method, path, a.code, a.body)
		case <-time.After(50 * time.Millisecond):
			// Still waiting: the start holds the instance.
		}
		g.gate <- struct{}{}
		a := <-done
		var in apiv1.Instance
		json.Unmarshal(a.body, &in)
		return a.code, in
	}

	id := launch()
	if code, in := call("DELETE", "/v1/instances/"+id); code != 200 || in.State != "terminated" {
		t.Fatalf("terminate while booting: %d %+v", code, in)
	}
	id = launch()
	if code, in := call("POST", "/v1/instances/"+id+"/stop"); code != 200 || in.State != "stopped" {
		t.Fatalf("stop while booting: %d %+v", code, in)
	}
	id = launch()
	// A second start of a pending instance is idempotent: it must not
	// start another VMM.
	if code, in := call("POST", "/v1/instances/"+id+"/start"); code != 200 {
		t.Fatalf("start while booting: %d %+v", code, in)
	}
	e.waitState(tok, id, "running")
	e.cp.Wait()
	e.must(200, "DELETE", "/v1/instances/"+id, tok, nil, nil)

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.problems) > 0 || len(g.running) > 0 {
		t.Fatalf("problems %q, still running %v", g.problems, g.running)
	}
}

// TestDescribeLongPoll: GET /v1/instances/{id}?while=&wait= answers as
// soon as the instance leaves the state, through the typed client too;
// a malformed long-poll is a 400 and another tenant's instance a 404.
func TestDescribeLongPoll(t *testing.T) {
	e := newEnv(t, &recRunner{started: map[string]orchestrator.RunSpec{}})
	_, tok := e.tenant("acme")
	_, other := e.tenant("rival")
	e.tinyImage("tiny")
	id := e.launchRunning(tok).ID
	path := "/v1/instances/" + id

	c := apiv1.NewClient(e.srv.URL, tok, nil)
	done := make(chan apiv1.Instance, 1)
	go func() {
		in, err := c.InstanceWait(context.Background(), id, "running", 25*time.Second)
		if err != nil {
			t.Errorf("InstanceWait: %v", err)
		}
		done <- in
	}()
	e.must(200, "POST", path+"/stop", tok, `{"force":true}`, nil)
	select {
	case in := <-done:
		if in.State != "stopping" && in.State != "stopped" {
			t.Fatalf("long poll while running answered %s (%s)", in.State, in.Reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll while running did not end with the stop")
	}

	for _, q := range []string{"?while=stopped", "?wait=1s", "?while=asleep&wait=1s", "?while=stopped&wait=1h", "?while=stopped&wait=soon"} {
		if code, b := e.do("GET", path+q, tok, nil); code != 400 {
			t.Errorf("%s: %d %s, want 400", q, code, b)
		}
	}
	if code, b := e.do("GET", path+"?while=stopped&wait=1s", other, nil); code != 404 {
		t.Errorf("another tenant's long poll: %d %s, want 404", code, b)
	}
}
