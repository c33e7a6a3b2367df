package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the store file the crash child writes to. When it is set,
// TestMain runs crashChild instead of the tests.
const crashEnv = "IRONVISOR_STORE_CRASH_CHILD"

// crashRec is what the child writes: one instance and one usage record per
// transaction, plus a counter in Meta, so a torn transaction would show up
// as counts that disagree.
type crashRec struct {
	N   int    `json:"n"`
	Pad string `json:"pad"`
}

// TestMain turns the test binary into the crash child when crashEnv is set,
// so the child is never reported as a skipped test.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child half of TestKillNineKeepsAcknowledgedWrites.
// It continues the sequence where the last child stopped, printing "ack N"
// after each Update returns, until it is killed.
func crashChild(path string) {
	db, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	n := 0
	db.View(func(tx *Tx) error { return tx.Get(Meta, "count", &n) })
	fmt.Println("ready")
	pad := strings.Repeat("x", 200+n%300)
	for ; ; n++ {
		id := fmt.Sprintf("i-%08d", n)
		err := db.Update(func(tx *Tx) error {
			if err := tx.Put(Instances, id, crashRec{N: n, Pad: pad}); err != nil {
				return err
			}
			if err := tx.Put(Usage, id+"/1", crashRec{N: n}); err != nil {
				return err
			}
			return tx.Put(Meta, "count", n+1)
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ack", n)
	}
}

// TestKillNineKeepsAcknowledgedWrites SIGKILLs a writer child at a random
// moment, many times over one file, and checks after each reopen that every
// acknowledged record exists, that no transaction is torn, and that the
// file passes bbolt's consistency check.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	iterations := 50
	if testing.Short() {
		iterations = 10
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[int]bool{}
	start := time.Now()
	// On a loaded machine stop early, but never below 10 kills.
	it := 0
	for ; it < iterations && (it < 10 || time.Since(start) < 15*time.Second); it++ {
		for _, n := range runAndKill(t, path, time.Duration(rand.IntN(40))*time.Millisecond) {
			acked[n] = true
		}
		verifyAfterCrash(t, path, acked)
	}
	t.Logf("%d kill -9 iterations, %d acknowledged writes, %v", it, len(acked), time.Since(start))
	if len(acked) == 0 {
		t.Fatal("no write was ever acknowledged; the test proved nothing")
	}
}

// runAndKill starts a child writer, SIGKILLs it delay after it reports
// ready, and returns the sequence numbers it acknowledged.
func runAndKill(t *testing.T, path string, delay time.Duration) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []int
	deadline := time.After(20 * time.Second)
	var kill <-chan time.Time
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := cmd.Wait(); !killed(err) {
					t.Fatalf("child ended by itself: %v (acks %d)", err, len(got))
				}
				return got
			}
			switch {
			case line == "ready":
				kill = time.After(delay)
			case strings.HasPrefix(line, "ack "):
				n, err := strconv.Atoi(strings.TrimPrefix(line, "ack "))
				if err != nil {
					t.Fatalf("bad child line %q", line)
				}
				got = append(got, n)
			case strings.HasPrefix(line, "error"):
				t.Fatalf("child: %s", line)
			}
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			kill = nil
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("child did not become ready or die within 20s")
		}
	}
}

// killed reports whether err says the process died of SIGKILL.
func killed(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// verifyAfterCrash reopens the store and checks it against acked.
func verifyAfterCrash(t *testing.T, path string, acked map[int]bool) {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		count := 0
		if len(acked) > 0 || tx.Has(Meta, "count") {
			if err := tx.Get(Meta, "count", &count); err != nil {
				return err
			}
		}
		ni, _ := tx.Count(Instances)
		nu, _ := tx.Count(Usage)
		if ni != count || nu != count {
			return fmt.Errorf("torn transaction: count %d, instances %d, usage %d", count, ni, nu)
		}
		for n := range acked {
			r, err := Get[crashRec](tx, Instances, fmt.Sprintf("i-%08d", n))
			if err != nil {
				return fmt.Errorf("acknowledged write %d lost: %w", n, err)
			}
			if r.N != n {
				return fmt.Errorf("record %d holds %d", n, r.N)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
