package jail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(childMain(os.Getenv(envMode)))
	}
	if dir := os.Getenv(envRootfs); dir != "" {
		if err := rootfsHelper(dir); err != nil {
			fmt.Fprintln(os.Stderr, "rootfs helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// env is a per-test jail environment: a state dir and a cgroup parent.
type env struct {
	stateDir, cgParent string
	controllers        string
}

// newEnv skips unless the jail can run here, and cleans up after the test.
func newEnv(t *testing.T) env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the jail needs root (namespaces, pivot_root, cgroups)")
	}
	mnt, err := CgroupMount()
	if err != nil {
		t.Skipf("SKIP: no cgroup v2 hierarchy: %v", err)
	}
	ctrl, _ := os.ReadFile(filepath.Join(mnt, "cgroup.controllers"))
	e := env{
		stateDir:    t.TempDir(),
		cgParent:    filepath.Join(mnt, fmt.Sprintf("ironvisor-test-%d-%s", os.Getpid(), t.Name())),
		controllers: string(ctrl),
	}
	t.Cleanup(func() {
		if err := os.Remove(e.cgParent); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("remove test cgroup parent: %v", err)
		}
	})
	return e
}

// has reports whether the cgroup v2 controller c can be used here.
func (e env) has(c string) bool { return hasWord(e.controllers, c) }

// spec returns a Spec for a child in mode that reports on console.
func (e env) spec(id, mode string, console *os.File) Spec {
	return Spec{
		ID: id, UID: 65534, GID: 65534,
		StateDir: e.stateDir, CgroupParent: e.cgParent,
		Env:   []string{envMode + "=" + mode},
		Files: Files{Console: console},
	}
}

// run starts s, lets check look at the running child, waits for it (with
// a deadline) and returns its exit state, console output and stderr.
func run(t *testing.T, s Spec, check func(*exec.Cmd)) (*os.ProcessState, string, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s.Files.Console = w
	var stderr bytes.Buffer
	s.Stderr = &stderr
	cmd, err := Start(s)
	w.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := Cleanup(s); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	out := make(chan string, 1)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	if check != nil {
		check(cmd)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	return cmd.ProcessState, <-out, stderr.String()
}

// signalOf returns the signal that killed the process, or 0.
func signalOf(ps *os.ProcessState) syscall.Signal {
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

func TestJailConfinesChild(t *testing.T) {
	e := newEnv(t)
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(disk, []byte("hello, disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	df, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	s := e.spec("t-inspect", "inspect", nil)
	s.Files.Disks = []*os.File{df}
	if e.has("memory") {
		s.MemoryMax = MemoryBudget(64 << 20)
	} else {
		t.Logf("memory controller not in cgroup v2 here (%q): memory.max not checked", e.controllers)
	}
	if e.has("cpu") {
		s.CPUs = 1.5
	}
	before := MonotonicNow()
	s.Stages = []ParentStage{{Name: "ids", Mono: before}}
	var started []*exec.Cmd
	s.StartCmd = func(cmd *exec.Cmd) error { // as the appliance's reaper does
		started = append(started, cmd)
		return cmd.Start()
	}
	leaf := filepath.Join(e.cgParent, s.ID)
	ps, console, stderr := run(t, s, func(cmd *exec.Cmd) {
		if len(started) != 1 || started[0] != cmd {
			t.Errorf("Spec.StartCmd called for %v, want once for the returned command", started)
		}
		checkCgroup(t, leaf, cmd.Process.Pid, s)
	})
	if !ps.Success() {
		t.Fatalf("child failed: %v\nstderr: %s", ps, stderr)
	}
	var r report
	if err := json.Unmarshal([]byte(console), &r); err != nil {
		t.Fatalf("decode report %q: %v (stderr: %s)", console, err, stderr)
	}
	checkReport(t, r, s.ID)
	checkStages(t, r.Stages, before)
	b, _ := os.ReadFile(disk)
	if len(b) < 106 || string(b[100:106]) != "jailed" {
		t.Errorf("host disk file = %q, want the child's write at offset 100", b)
	}
}

// checkStages checks that the child got the caller's stage, then Start's
// "leaf" and "clone", in order on the clock, none before the caller's.
func checkStages(t *testing.T, got []ParentStage, callerAt int64) {
	t.Helper()
	var names []string
	ok := len(got) == 3 && got[0].Mono == callerAt
	for i, st := range got {
		names = append(names, st.Name)
		if i > 0 && st.Mono < got[i-1].Mono {
			ok = false
		}
	}
	if !ok || strings.Join(names, " ") != "ids leaf clone" {
		t.Errorf("the child's ParentStages = %+v, want ids at %d, then leaf and clone, in order", got, callerAt)
	}
}

// checkCgroup checks that pid is in the leaf with the limits of s.
func checkCgroup(t *testing.T, leaf string, pid int, s Spec) {
	t.Helper()
	procs, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil {
		t.Errorf("read cgroup.procs: %v", err)
	} else if !hasWord(string(procs), strconv.Itoa(pid)) {
		t.Errorf("pid %d not in %s/cgroup.procs (%q)", pid, leaf, procs)
	}
	if s.MemoryMax > 0 {
		b, _ := os.ReadFile(filepath.Join(leaf, "memory.max"))
		if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(s.MemoryMax, 10) {
			t.Errorf("memory.max = %q, want %d", got, s.MemoryMax)
		}
	}
	if s.CPUs > 0 {
		b, _ := os.ReadFile(filepath.Join(leaf, "cpu.max"))
		if got := strings.TrimSpace(string(b)); got != "150000 100000" {
			t.Errorf("cpu.max = %q, want 150000 100000", got)
		}
	}
}

// checkReport checks what the child saw of itself.
func checkReport(t *testing.T, r report, id string) {
	t.Helper()
	if r.PID != 1 {
		t.Errorf("child pid = %d, want 1 in its own PID namespace", r.PID)
	}
	if r.UIDs != [3]int{65534, 65534, 65534} || r.GIDs != [3]int{65534, 65534, 65534} {
		t.Errorf("uids %v gids %v, want all 65534", r.UIDs, r.GIDs)
	}
	if len(r.Groups) != 0 {
		t.Errorf("supplementary groups = %v, want none", r.Groups)
	}
	if r.Hostname != id {
		t.Errorf("hostname = %q, want %q", r.Hostname, id)
	}
	if r.CapEff != 0 || r.CapPrm != 0 || r.Bounding != 0 {
		t.Errorf("capabilities eff %#x prm %#x, %d in bounding set; want none", r.CapEff, r.CapPrm, r.Bounding)
	}
	if len(r.ThreadCaps) != 3 {
		t.Errorf("capabilities of %d other threads reported, want 3", len(r.ThreadCaps))
	}
	for i, c := range r.ThreadCaps {
		if c != 0 {
			t.Errorf("thread %d started before Enter keeps capabilities %#x; want none", i, c)
		}
	}
	if !slices.Equal(r.Root, []string{"dev"}) || !slices.Equal(r.Dev, []string{"null", "urandom"}) {
		t.Errorf("root holds %v, /dev holds %v; want [dev] and [null urandom]", r.Root, r.Dev)
	}
	if !strings.Contains(r.PasswdErr, "no such file") {
		t.Errorf("stat /etc/passwd in the jail: %q, want no such file", r.PasswdErr)
	}
	if !strings.Contains(r.ROErr, "read-only") {
		t.Errorf("creating /new in the jail: %q, want read-only file system", r.ROErr)
	}
	if r.DiskHead != "hello" || r.Random != 16 {
		t.Errorf("disk head %q, random bytes %d; want hello, 16", r.DiskHead, r.Random)
	}
	if r.Workload != "ok" {
		t.Errorf("VMM-like workload under seccomp: %s", r.Workload)
	}
}

func TestForbiddenSyscallKills(t *testing.T) {
	e := newEnv(t)
	for i, call := range []string{"mount", "ptrace", "execve", "socket", "unshare", "fork", "fork as ioctl",
		"SIOCSIFHWADDR", "TUNSETIFF", "KVM_CREATE_VM after Seal", "KVM_CREATE_VM|1<<32 after Seal", "seccomp after Seal"} {
		t.Run(call, func(t *testing.T) {
			ps, console, stderr := run(t, e.spec(fmt.Sprintf("t-forbidden-%d", i), call, nil), nil)
			if sig := signalOf(ps); sig != syscall.SIGSYS {
				t.Fatalf("child after forbidden %s: %v, want killed by SIGSYS\nconsole: %s\nstderr: %s", call, ps, console, stderr)
			}
		})
	}
}

// startBlocked starts s in "block" mode and returns once the child waits
// in its blocking read, where it stays until it is killed.
func startBlocked(t *testing.T, s Spec) *exec.Cmd {
	t.Helper()
	hold, never, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { never.Close() })
	console, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	s.Files.Kernel, s.Files.Console = hold, w
	cmd, err := Start(s)
	hold.Close()
	w.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	line := make([]byte, 9)
	if _, err := io.ReadFull(console, line); err != nil || string(line) != "blocking\n" {
		t.Fatalf("child did not reach its blocking read: %q, %v", line, err)
	}
	return cmd
}

func TestCleanupKillsOrphan(t *testing.T) {
	e := newEnv(t)
	s := e.spec("t-orphan", "block", nil)
	cmd := startBlocked(t, s)
	st, err := ReadStats(s)
	if err != nil || st.Procs != 1 || st.CPUUsec == 0 {
		t.Errorf("ReadStats of the running child = %+v, %v; want 1 process and some CPU time", st, err)
	}
	if err := Cleanup(s); err != nil {
		t.Fatalf("Cleanup of a running VM: %v", err)
	}
	cmd.Wait()
	if sig := signalOf(cmd.ProcessState); sig != syscall.SIGKILL {
		t.Fatalf("orphan after Cleanup: %v, want killed", cmd.ProcessState)
	}
	if ids, _ := List(e.stateDir); len(ids) != 0 {
		t.Errorf("List after Cleanup = %v", ids)
	}
}

func TestCleanupIsIdempotent(t *testing.T) {
	e := newEnv(t)
	s := e.spec("t-clean", "inspect", nil)
	if err := os.MkdirAll(filepath.Join(e.stateDir, s.ID, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(s); err == nil {
		t.Fatal("Start over an existing root succeeded, want an error")
	}
	if ids, err := List(e.stateDir); err != nil || !slices.Equal(ids, []string{"t-clean"}) {
		t.Fatalf("List = %v, %v; want [t-clean]", ids, err)
	}
	for i := 0; i < 2; i++ {
		if err := Cleanup(s); err != nil {
			t.Fatalf("Cleanup #%d: %v", i+1, err)
		}
	}
	if ids, _ := List(e.stateDir); len(ids) != 0 {
		t.Fatalf("List after Cleanup = %v, want none", ids)
	}
	if _, err := os.Stat(filepath.Join(e.cgParent, s.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup leaf still there after Cleanup: %v", err)
	}
}

// BenchmarkStartEnterExit measures a jailed child from Start until it has
// entered the jail and exited, and the Cleanup after it.
func BenchmarkStartEnterExit(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("SKIP: the jail needs root")
	}
	mnt, err := CgroupMount()
	if err != nil {
		b.Skipf("SKIP: %v", err)
	}
	s := Spec{
		ID: "bench", UID: 65534, GID: 65534, StateDir: b.TempDir(),
		CgroupParent: filepath.Join(mnt, fmt.Sprintf("ironvisor-bench-%d", os.Getpid())),
		Env:          []string{envMode + "=noop"},
	}
	defer os.Remove(s.CgroupParent)
	var start, run, clean time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		cmd, err := Start(s)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("child: %v", err)
		}
		t2 := time.Now()
		if err := Cleanup(s); err != nil {
			b.Fatal(err)
		}
		start, run, clean = start+t1.Sub(t0), run+time.Since(t1)-time.Since(t2), clean+time.Since(t2)
	}
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(run.Milliseconds())/float64(b.N), "run-ms/op")
	b.ReportMetric(float64(clean.Milliseconds())/float64(b.N), "cleanup-ms/op")
}

// TestJailExecsBinaryTheUIDCannotReach starts the VMM from a binary in a
// directory only root may search: the VMM's ids are set before the exec,
// so the jail execs it through an fd, which the child must not keep.
func TestJailExecsBinaryTheUIDCannotReach(t *testing.T) {
	e := newEnv(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vmm")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(bin, &st); err != nil {
		t.Fatal(err)
	}
	disk, err := os.Open(bin) // any readable file will do as the disk
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	s := e.spec("t-private-bin", "inspect", nil)
	s.Path = bin
	s.Files.Disks = []*os.File{disk}
	ps, console, stderr := run(t, s, nil)
	var r report
	if err := json.Unmarshal([]byte(console), &r); err != nil {
		t.Fatalf("child %v: decode report %q: %v (stderr: %s)", ps, console, err, stderr)
	}
	if r.UIDs != [3]int{65534, 65534, 65534} || r.CapEff != 0 || r.CapPrm != 0 {
		t.Errorf("uids %v, capabilities eff %#x prm %#x; want 65534 and none", r.UIDs, r.CapEff, r.CapPrm)
	}
	if r.AfterFiles == st.Ino {
		t.Errorf("the child keeps an fd of its executable (inode %d) after its files", st.Ino)
	}
}
