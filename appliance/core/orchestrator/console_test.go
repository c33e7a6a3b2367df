package orchestrator

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// echoRunner is a fakeRunner whose guests echo their serial input.
type echoRunner struct {
	*fakeRunner
	mu  sync.Mutex
	out map[string][]byte // guarded by mu: each instance's console
}

func newEchoRunner() *echoRunner {
	return &echoRunner{fakeRunner: newFakeRunner(), out: map[string][]byte{}}
}

func (r *echoRunner) Console(_ context.Context, id string, off int64, max int) ([]byte, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.out[id]
	off = min(off, int64(len(b)))
	b = b[off:min(int64(len(b)), off+int64(max))]
	return append([]byte(nil), b...), off + int64(len(b)), nil
}

func (r *echoRunner) ConsoleWrite(_ context.Context, id string, b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out[id] = append(r.out[id], b...)
	return len(b), nil
}

// TestConsoleWriteAndWait: a waiting read returns as soon as the guest
// answers what was typed, well before its wait ends.
func TestConsoleWriteAndWait(t *testing.T) {
	r := newEchoRunner()
	e := newEnv(t, r, nil)
	in := e.launch(e.image("tiny", false), false)
	ctx := context.Background()
	got := make(chan string, 1)
	start := time.Now()
	go func() {
		out, next, ok, err := e.o.ConsoleWait(ctx, tenant, in.ID, 0, 100, 10*time.Second)
		if err != nil || !ok || next != int64(len(out)) {
			t.Errorf("ConsoleWait: next %d ok %v err %v", next, ok, err)
		}
		got <- string(out)
	}()
	time.Sleep(3 * consolePoll) // let the reader wait first
	if n, err := e.o.ConsoleWrite(ctx, tenant, in.ID, []byte("ls\r")); n != 3 || err != nil {
		t.Fatalf("ConsoleWrite = %d, %v", n, err)
	}
	if s := <-got; s != "ls\r" {
		t.Fatalf("waited read got %q", s)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the read waited %v for output that was there", d)
	}
}

// TestConsoleWaitEndsEmpty: with no output the read answers empty at
// the end of its wait, at the offset it was given.
func TestConsoleWaitEndsEmpty(t *testing.T) {
	e := newEnv(t, newEchoRunner(), nil)
	in := e.launch(e.image("tiny", false), false)
	out, next, ok, err := e.o.ConsoleWait(context.Background(), tenant, in.ID, 0, 100, 2*consolePoll)
	if len(out) != 0 || next != 0 || !ok || err != nil {
		t.Fatalf("ConsoleWait = %q %d %v %v", out, next, ok, err)
	}
}

// TestConsoleWriteRefusals: another tenant's instance is not found, a
// stopped one is in the wrong state, empty or huge input is invalid, and
// a runner that cannot type is refused.
func TestConsoleWriteRefusals(t *testing.T) {
	e := newEnv(t, newEchoRunner(), nil)
	in := e.launch(e.image("tiny", false), false)
	ctx := context.Background()
	other := auth.Principal{TenantID: "t-2", TokenID: "k-2"}
	if _, err := e.o.ConsoleWrite(ctx, other, in.ID, []byte("x")); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("other tenant: %v", err)
	}
	for _, b := range [][]byte{nil, make([]byte, MaxConsoleInput+1)} {
		if _, err := e.o.ConsoleWrite(ctx, tenant, in.ID, b); !errors.Is(err, apiv1.InvalidParameter) {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
	}
	if _, err := e.o.Stop(ctx, tenant, in.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err := e.o.ConsoleWrite(ctx, tenant, in.ID, []byte("x"))
	if !errors.Is(err, apiv1.IncorrectState) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("stopped instance: %v", err)
	}

	plain := newEnv(t, newFakeRunner(), nil)
	in = plain.launch(plain.image("tiny", false), false)
	if _, err := plain.o.ConsoleWrite(ctx, tenant, in.ID, []byte("x")); !errors.Is(err, apiv1.IncorrectState) {
		t.Fatalf("runner without input: %v", err)
	}
}

// gatedRunner is a fakeRunner whose starts wait for release, and which,
// as the supervisor, knows no console of an instance it has not started.
type gatedRunner struct {
	*fakeRunner
	release chan struct{}
}

func (r *gatedRunner) Start(ctx context.Context, s RunSpec) error {
	<-r.release
	return r.fakeRunner.Start(ctx, s)
}

func (r *gatedRunner) Console(ctx context.Context, id string, off int64, max int) ([]byte, int64, error) {
	r.mu.Lock()
	_, ok := r.running[id]
	r.mu.Unlock()
	if !ok {
		return nil, 0, errors.New("supervisor: unknown instance")
	}
	return r.fakeRunner.Console(ctx, id, off, max)
}

// launchGated launches a nano instance whose VMM start waits until the
// returned function is called: the instance stays pending until then.
func launchGated(t *testing.T) (*env, string, func()) {
	r := &gatedRunner{fakeRunner: newFakeRunner(), release: make(chan struct{})}
	e := newEnv(t, r, nil)
	released := sync.OnceFunc(func() { close(r.release) })
	t.Cleanup(func() { released(); e.o.Wait() })
	insts, err := e.o.Launch(tenant, LaunchSpec{Image: e.image("tiny", false), Type: "nano", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e, insts[0].ID, released
}

// TestConsoleOfAPendingInstance: an instance whose VMM has not started
// yet has a console to come: no output, no error, and available (the
// web console opens its terminal on the page a launch lands on).
func TestConsoleOfAPendingInstance(t *testing.T) {
	e, id, released := launchGated(t)
	if in := e.get(id); in.State != "pending" {
		t.Fatalf("state %s before the VMM started, want pending", in.State)
	}
	out, next, ok, err := e.o.Console(context.Background(), tenant, id, 0, 100)
	if len(out) != 0 || next != 0 || !ok || err != nil {
		t.Fatalf("Console of a pending instance = %q %d %v %v, want nothing yet, available", out, next, ok, err)
	}
	released()
	e.o.Wait()
	if out, _, ok, err := e.o.Console(context.Background(), tenant, id, 0, 100); !ok || err != nil || !strings.Contains(string(out), id) {
		t.Fatalf("Console once running = %q %v %v", out, ok, err)
	}
}
