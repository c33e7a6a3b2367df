package gotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeVMM stands in for `ironvisor vmm run` in TestL2BootRetriesOnce: each
// call takes the next word of $PLAN (counting calls in $STATE) and ends
// that way: "lost" as a triple fault, "hang" never, "reset" with exit 10
// and no triple fault, "ok" with exit 0. It writes the call's number to
// the --console-log file.
const fakeVMM = `#!/bin/sh
n=$(($(cat "$STATE" 2>/dev/null || echo 0) + 1)); echo $n > "$STATE"
log=; while [ $# -gt 0 ]; do [ "$1" = --console-log ] && log=$2; shift; done
echo "console of call $n" > "$log"
case $(echo "$PLAN" | cut -d, -f$n) in
lost) echo "ironvisor vmm run: triple fault (KVM shutdown exit) (exit 10)" >&2; exit 10 ;;
hang) exec sleep 60 ;;
reset) echo "ironvisor vmm run: guest reset through the i8042 (exit 10)" >&2; exit 10 ;;
ok) exit 0 ;;
esac
exit 99
`

// TestL2BootRetriesOnce runs the L2Boot shell function on the host with a
// scripted VMM: a triple fault or a hang on the first try costs one more
// try, logged as L2-LOST; a second loss, or any other end, is the result;
// L2BootTry reads the tries back from the output.
func TestL2BootRetriesOnce(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skipf("SKIP: no timeout command: %v", err)
	}
	dir := t.TempDir()
	vmm := filepath.Join(dir, "vmm")
	if err := os.WriteFile(vmm, []byte(fakeVMM), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		plan  string
		calls string
		lost  string // how the first try was lost, "" for none
		rc    string
	}{
		{"ok", "1", "", "0"},
		{"reset", "1", "", "10"},
		{"lost,ok", "2", "triple fault", "0"},
		{"hang,ok", "2", "no end in 1 s", "0"},
		{"lost,lost", "2", "triple fault", "10"},
		{"lost,hang", "2", "triple fault", "137"},
	} {
		t.Run(c.plan, func(t *testing.T) {
			name := "l2boot-test-" + filepath.Base(t.TempDir())
			t.Cleanup(func() { os.Remove("/tmp/" + name + ".log"); os.Remove("/tmp/" + name + ".err") })
			state := filepath.Join(t.TempDir(), "state")
			cmd := exec.Command("sh", "-c", L2Boot+`l2boot "$0" --kernel k; echo "rc=$rc"`, name)
			cmd.Env = append(os.Environ(), "l2vmm="+vmm, "l2deadline=1", "PLAN="+c.plan, "STATE="+state)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			calls, _ := os.ReadFile(state)
			if got := strings.TrimSpace(string(calls)); got != c.calls {
				t.Errorf("VMM ran %s times, want %s\n%s", got, c.calls, out)
			}
			if !strings.HasSuffix(string(out), "RESULT "+name+" "+c.rc+"\nrc="+c.rc+"\n") {
				t.Errorf("output does not end in RESULT %s and rc=%s:\n%s", c.rc, c.rc, out)
			}
			tries := L2BootTry(name).FindAllStringSubmatch(string(out), -1)
			if len(tries) == 0 || len(tries) > 2 {
				t.Fatalf("L2BootTry found %d tries in:\n%s", len(tries), out)
			}
			last := tries[len(tries)-1]
			if last[3] != "" || last[4] != c.rc || !strings.Contains(last[2], "console of call "+c.calls) {
				t.Errorf("last try %q: want rc %s and the console of call %s", last[0], c.rc, c.calls)
			}
			if lost := ""; len(tries) == 2 {
				if lost = tries[0][3]; lost != c.lost || tries[0][4] != "" {
					t.Errorf("first try lost %q (rc %q), want %q", lost, tries[0][4], c.lost)
				}
			} else if c.lost != "" {
				t.Errorf("one try, want the first lost (%s)", c.lost)
			}
		})
	}
}
