package lifecycle

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// crashEnv names the store file the crash child drives. When it is set,
// TestMain runs lifecycleCrashChild instead of the tests.
const crashEnv = "IRONVISOR_LIFECYCLE_CRASH_CHILD"

// farFuture bounds the usage window of the crash test.
var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// TestMain turns the test binary into the crash child when crashEnv is set,
// so the child is never reported as a skipped test.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		lifecycleCrashChild(path)
		return
	}
	os.Exit(m.Run())
}

// lifecycleCrashChild is the child half of
// TestKillNineDuringConcurrentLifecycle: four goroutines launch, boot,
// stop, start and terminate instances, printing each acknowledged result,
// while a fifth reports usage, until the process is killed.
func lifecycleCrashChild(path string) {
	db, err := store.Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	m := NewManager(db, SystemClock{}, bigHost)
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}
	fail := func(err error) { say("error %v", err); os.Exit(2) }
	say("ready")
	for g := 0; g < 4; g++ {
		go crashWorker(m, uint64(g), say, fail)
	}
	meter := metering.NewMeter(db, nil)
	for {
		r, err := meter.Usage(time.Unix(0, 0), farFuture, "")
		if err != nil {
			fail(err)
		}
		say("usage %d", totalMillis(r))
	}
}

// crashWorker drives random lifecycles and prints "ack ID GENERATION STATE"
// after every acknowledged change.
func crashWorker(m *Manager, seed uint64, say func(string, ...any), fail func(error)) {
	r := rand.New(rand.NewPCG(seed, uint64(os.Getpid())))
	ctx := context.Background()
	for {
		insts, err := m.Launch(LaunchSpec{TenantID: "t-crash", Image: "tiny", Type: "nano", Count: 1 + r.IntN(2)})
		if err != nil {
			fail(err)
		}
		for _, inst := range insts {
			say("ack %s %d %s", inst.ID, inst.Generation, inst.State)
			for _, e := range []Event{Booted, Stop, Halted, Start, Booted, Reboot, Terminate, Cleaned}[:1+r.IntN(8)] {
				got, err := m.Apply(ctx, inst.ID, e, Change{Reason: string(e)})
				if err != nil {
					fail(err)
				}
				say("ack %s %d %s", got.ID, got.Generation, got.State)
			}
		}
	}
}

// totalMillis sums running milliseconds over a report.
func totalMillis(r metering.Report) int64 {
	var n int64
	for _, tu := range r.Tenants {
		n += tu.Total.RunningMillis
	}
	return n
}

// acked is what the parent learned from the children.
type acked struct {
	gen   map[string]uint64
	state map[string]State
	usage int64
}

// TestKillNineDuringConcurrentLifecycle SIGKILLs a child that runs
// concurrent launches, transitions and usage reports, many times over one
// store. After each kill it reconciles (no VMM survives a test child) and
// checks that every acknowledged instance exists at least as new as
// acknowledged, that meters agree with states, and that usage never went
// backwards.
func TestKillNineDuringConcurrentLifecycle(t *testing.T) {
	iterations := 25
	if testing.Short() {
		iterations = 5
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	a := &acked{gen: map[string]uint64{}, state: map[string]State{}}
	// On a loaded machine stop early, but never below 5 kills.
	start, it := time.Now(), 0
	for ; it < iterations && (it < 5 || time.Since(start) < 15*time.Second); it++ {
		runLifecycleChild(t, path, time.Duration(20+rand.IntN(150))*time.Millisecond, a)
		verifyLifecycle(t, path, a)
	}
	t.Logf("%d kill -9 iterations, %d instances acknowledged, usage %d ms", it, len(a.gen), a.usage)
	if len(a.gen) == 0 || a.usage == 0 {
		t.Fatal("nothing was acknowledged; the test proved nothing")
	}
}

// runLifecycleChild runs one child, kills it delay after it is ready and
// folds what it acknowledged into a.
func runLifecycleChild(t *testing.T, path string, delay time.Duration, a *acked) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "ready":
			time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		case len(f) == 4 && f[0] == "ack":
			g, _ := strconv.ParseUint(f[2], 10, 64)
			if g >= a.gen[f[1]] {
				a.gen[f[1]], a.state[f[1]] = g, State(f[3])
			}
		case len(f) == 2 && f[0] == "usage":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			a.usage = max(a.usage, n)
		case len(f) > 0 && f[0] == "error":
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if err := cmd.Wait(); !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("child ended with %v, want killed", err)
	}
}

// verifyLifecycle reopens the store, reconciles and checks it against a.
func verifyLifecycle(t *testing.T, path string, a *acked) {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	m := NewManager(db, SystemClock{}, bigHost)
	if _, err := m.Reconcile(context.Background(), func(Instance) bool { return false }, "vmm lost", nil); err != nil {
		t.Fatal(err)
	}
	all, err := m.List("")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]Instance{}
	for _, inst := range all {
		stored[inst.ID] = inst
	}
	for id, g := range a.gen {
		inst, ok := stored[id]
		if !ok || inst.Generation < g {
			t.Fatalf("acknowledged %s generation %d (%s) lost: stored %+v", id, g, a.state[id], inst)
		}
	}
	var ivs []metering.Interval
	db.View(func(tx *store.Tx) error { ivs, err = metering.Intervals(tx); return err })
	for _, iv := range ivs {
		if iv.Open() {
			t.Fatalf("%s: interval still open after reconcile, state %s", iv.InstanceID, stored[iv.InstanceID].State)
		}
	}
	r, err := metering.NewMeter(db, nil).Usage(time.Unix(0, 0), farFuture, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := totalMillis(r); n < a.usage {
		t.Fatalf("usage went backwards across kill -9: reported %d ms, now %d ms", a.usage, n)
	} else {
		a.usage = n
	}
}
