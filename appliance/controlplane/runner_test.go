package controlplane

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// recRunner records what the control plane asks of a Runner. It stands in
// for the supervisor, whose real VMMs need /dev/kvm (its own tests and the
// rack tests cover them); here it checks the wiring.
type recRunner struct {
	mu      sync.Mutex
	started map[string]RunSpec
	stops   []string
	failID  string
}

func (r *recRunner) Start(_ context.Context, s RunSpec) error {
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

// waitState polls an instance until it reaches state, with a deadline.
func (e *env) waitState(tok, id, state string) Instance {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var in Instance
		e.must(200, "GET", "/v1/instances/"+id, tok, nil, &in)
		if in.State == state {
			return in
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("instance %s is %s (%s), want %s", id, in.State, in.Reason, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunnerWiring(t *testing.T) {
	rr := &recRunner{started: map[string]RunSpec{}}
	e := newEnv(t, rr)
	_, tok := e.tenant("acme")
	e.tinyImage("tiny")
	var got []Instance
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &got)
	id := got[0].ID
	in := e.waitState(tok, id, "running")
	rr.mu.Lock()
	spec := rr.started[id]
	rr.mu.Unlock()
	if spec.VCPUs != 1 || spec.MemBytes != 64<<20 || spec.Cmdline != "console=ttyS0" || spec.Initrd == "" || spec.ConsoleLog == "" {
		t.Fatalf("run spec %+v", spec)
	}
	if _, err := os.Stat(spec.Kernel); err != nil {
		t.Fatalf("kernel path: %v", err)
	}
	var con ConsoleOutput
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
	rr.mu.Lock()
	stops := fmt.Sprint(rr.stops)
	rr.mu.Unlock()
	want := fmt.Sprintf("[%s force=true %s force=false]", id, id)
	if stops != want {
		t.Fatalf("stops %s, want %s", stops, want)
	}
	// A VMM that fails to start leaves the instance stopped with the reason.
	e.must(201, "POST", "/v1/instances", tok, map[string]any{"image": "tiny", "type": "nano"}, &got)
	e.cp.Wait()
	in = e.waitState(tok, got[0].ID, "running")
	rr.mu.Lock()
	rr.failID = got[0].ID
	rr.mu.Unlock()
	e.must(200, "POST", "/v1/instances/"+got[0].ID+"/stop", tok, `{"force":true}`, nil)
	e.must(200, "POST", "/v1/instances/"+got[0].ID+"/start", tok, nil, nil)
	if in = e.waitState(tok, got[0].ID, "stopped"); in.Reason != "vmm start failed: jail: no such device" {
		t.Fatalf("failed start: %+v", in)
	}
}

func TestVolumeCopyIsSparseAndRemoved(t *testing.T) {
	e := newEnv(t, nil)
	disk := e.dir + "/disk.img"
	b := make([]byte, 1<<20)
	copy(b, "boot sector")
	copy(b[len(b)-5:], "tail!")
	if err := os.WriteFile(disk, b, 0o600); err != nil {
		t.Fatal(err)
	}
	vol, err := e.cp.ensureVolume("i-1", disk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(vol)
	if err != nil || string(got) != string(b) {
		t.Fatalf("volume differs from the image disk: %v", err)
	}
	os.WriteFile(vol, []byte("guest wrote this"), 0o600)
	if _, err := e.cp.ensureVolume("i-1", disk); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(vol); string(got) != "guest wrote this" {
		t.Fatal("a second start overwrote the volume")
	}
	if err := e.cp.removeInstanceFiles("i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("volume left after terminate: %v", err)
	}
}
