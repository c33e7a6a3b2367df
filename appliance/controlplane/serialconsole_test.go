package controlplane

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
)

// echoRunner is a recRunner whose guests echo what is typed into their
// serial console.
type echoRunner struct {
	recRunner
	cmu sync.Mutex
	out map[string][]byte // guarded by cmu
}

func (r *echoRunner) Console(_ context.Context, id string, off int64, max int) ([]byte, int64, error) {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	b := r.out[id]
	off = min(off, int64(len(b)))
	b = b[off:min(int64(len(b)), off+int64(max))]
	return append([]byte(nil), b...), off + int64(len(b)), nil
}

func (r *echoRunner) ConsoleWrite(_ context.Context, id string, b []byte) (int, error) {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	r.out[id] = append(r.out[id], b...)
	return len(b), nil
}

// TestSerialConsoleOverTheAPI: a long-polling read sees what was typed
// as soon as the guest echoes it; another tenant gets 404, a stopped
// instance 409, a bad wait 400.
func TestSerialConsoleOverTheAPI(t *testing.T) {
	rr := &echoRunner{recRunner: recRunner{started: map[string]orchestrator.RunSpec{}}, out: map[string][]byte{}}
	e := newEnv(t, rr)
	_, tok := e.tenant("acme")
	_, other := e.tenant("rival")
	e.tinyImage("tiny")
	id := e.launchRunning(tok).ID
	path := "/v1/instances/" + id + "/console"

	read := make(chan apiv1.ConsoleOutput, 1)
	start := time.Now()
	go func() {
		code, b := e.do("GET", path+"?offset=0&wait=20s", tok, nil)
		var out apiv1.ConsoleOutput
		if code != 200 || json.Unmarshal(b, &out) != nil {
			t.Errorf("long poll: %d %s", code, b)
		}
		read <- out
	}()
	var res apiv1.ConsoleInputResult
	e.must(200, "POST", path, tok, apiv1.ConsoleInput{Data: []byte("root\r")}, &res)
	if res.Accepted != 5 {
		t.Fatalf("accepted %d, want 5", res.Accepted)
	}
	out := <-read
	if out.Output != "root\r" || out.NextOffset != 5 || !out.Available {
		t.Fatalf("long poll got %+v", out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("long poll answered after %v", d)
	}

	if code, b := e.do("POST", path, other, apiv1.ConsoleInput{Data: []byte("x")}); code != 404 {
		t.Fatalf("other tenant: %d %s", code, b)
	}
	if code, b := e.do("POST", path, tok, `{"data":""}`); code != 400 {
		t.Fatalf("empty input: %d %s", code, b)
	}
	if code, b := e.do("GET", path+"?wait=1h", tok, nil); code != 400 {
		t.Fatalf("wait=1h: %d %s", code, b)
	}
	e.must(200, "POST", "/v1/instances/"+id+"/stop", tok, `{"force":true}`, nil)
	if code, b := e.do("POST", path, tok, apiv1.ConsoleInput{Data: []byte("x")}); code != 409 {
		t.Fatalf("stopped instance: %d %s", code, b)
	}
}
