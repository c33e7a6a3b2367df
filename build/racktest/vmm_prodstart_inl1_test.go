//go:build rack

package racktest

// The L1 side of the production-start benchmark (BenchmarkVMMProductionStart
// starts it): the tiny guest started through the supervisor into its jail,
// by the bare ironvisor-vmm, and by QEMU microvm under the same namespaces
// and cgroup limits, each timed to the first byte of its console file.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/supervisor"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// Where the production-start benchmark puts its cgroups and which ids its
// VMMs and QEMU run as.
const (
	prodCgroup = "/sys/fs/cgroup/ironvisor-bench"
	prodUID    = 200000 // the supervisor's range starts here
	prodQEMUID = 299999 // QEMU's uid and gid
)

// jailNS are the namespaces jail.Start clones a VMM into.
const jailNS = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET

// BenchmarkInL1ProductionStart boots the tiny PVH guest once per iteration
// on each path, rotating which goes first, and prints the time from the
// start of each to the first byte in its console file:
//
//   - jailed: supervisor.Start (uid allocation, files opened on the host,
//     cgroup leaf with memory, cpu and pids limits, clone into new mount,
//     pid, ipc, uts and network namespaces, jail entry with its root,
//     capability drop and seccomp filter, exec of ironvisor-vmm), the path
//     the appliance takes for every instance;
//   - unjailed: ironvisor-vmm run, forked and exec'd directly;
//   - qemu-isolated: QEMU microvm cloned into the same five namespaces,
//     into its own cgroup leaf with the same memory, cpu and pids limits,
//     in its own session, as an unprivileged uid; without a jail root,
//     pivot_root or seccomp filter (QEMU's -sandbox is not used).
//
// Every path writes the guest's serial output to a file, watched with
// inotify; the first modification that leaves the file non-empty ends the
// timing.
func BenchmarkInL1ProductionStart(b *testing.B) {
	needL1(b)
	marker := "TINY\n"
	dir, err := os.MkdirTemp("", "prodstart")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// QEMU runs as prodQEMUID: it must reach the kernel and /dev/kvm.
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod("/dev/kvm", 0o666); err != nil {
		b.Fatal(err)
	}
	kernel := filepath.Join(dir, "tiny.elf")
	if err := os.WriteFile(kernel, testutil.PVHHello(marker, testutil.ExitHalt), 0o644); err != nil {
		b.Fatal(err)
	}
	exits := make(chan string, 4)
	stateDir := filepath.Join(dir, "state")
	sup, err := supervisor.New(supervisor.Options{StateDir: stateDir, Binary: l1VMM,
		UID: prodUID, GID: prodUID, CgroupParent: prodCgroup, Unlimited: true, // as appliance/service
		OnExit: func(id, _ string, _ bool) { exits <- id }})
	if err != nil {
		b.Fatal(err)
	}
	for round := 0; b.Loop(); round++ {
		k := round % len(prodPaths)
		first := map[string]time.Duration{}
		stages := map[string][]benchfmt.Value{}
		for _, path := range append(prodPaths[k:], prodPaths[:k]...) {
			log := filepath.Join(dir, fmt.Sprintf("%s-%d.log", path, round))
			var d time.Duration
			switch path {
			case "jailed":
				d, stages[path], err = jailedStart(sup, exits, stateDir, round, kernel, log)
			case "qemu-isolated":
				d, _, _, err = cmdStart(qemuCommand(kernel), log, filepath.Join(prodCgroup, fmt.Sprintf("qemu-%d", round)))
			default:
				d, stages[path], err = bareStart(path, kernel, log, round)
			}
			if err != nil {
				b.Fatalf("%s round %d: %v", path, round, err)
			}
			first[path] = d
		}
		for _, path := range prodPaths {
			gotest.L1Result("VMMProductionStart/path="+path, append([]benchfmt.Value{
				{Value: ms(first[path]), Unit: "ms-first-byte"},
				{Value: float64(first["jailed"]) / float64(first[path]), Unit: "jailed/this"},
			}, stages[path]...)...)
		}
	}
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// jailedStart starts the tiny guest through sup and returns the time from
// Start to its first console byte and the split of that time (stages);
// it stops the VMM and waits for its exit.
func jailedStart(sup *supervisor.Supervisor, exits <-chan string, stateDir string, round int, kernel, log string) (time.Duration, []benchfmt.Value, error) {
	id := fmt.Sprintf("bench-%d", round)
	w, err := watchFirstByte(log)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldDeadline)
	defer cancel()
	t0, mono0 := time.Now(), monotonicNs()
	if err := sup.Start(ctx, supervisor.RunSpec{ID: id, VCPUs: 1, MemBytes: tinyMemMiB << 20,
		Cmdline: "console=ttyS0", Kernel: kernel, ConsoleLog: log}); err != nil {
		w.close()
		return 0, nil, err
	}
	at, werr := w.wait()
	if err := sup.Stop(ctx, id, true); err != nil {
		return 0, nil, err
	}
	select {
	case <-exits:
	case <-ctx.Done():
		return 0, nil, errors.New("no exit after a forced stop")
	}
	vmmLog, _ := os.ReadFile(filepath.Join(stateDir, "vmm", id, "vmm.log"))
	stages, err := startStages(vmmLog, mono0, mono0+int64(at.Sub(t0)))
	if err != nil {
		return 0, nil, err
	}
	if err := sup.Forget(id); err != nil {
		return 0, nil, err
	}
	return at.Sub(t0), stages, werr
}

// stageLine is the VMM's "start stages" line (vmm/cli): stage=ns pairs
// on CLOCK_MONOTONIC, in the order the stages were reached.
var stageLine = regexp.MustCompile(`start stages \(monotonic ns\):((?: \w+=\d+)+)`)

// startStages returns the split of one start from the VMM's stage line in
// stderr, as "ms-stage-NAME" values: for each stage, the milliseconds
// since the one before it, the first ("init": the Go runtime has started)
// counted from the fork at mono0, and "byte", the first console byte at
// firstNs, last.
func startStages(stderr []byte, mono0, firstNs int64) ([]benchfmt.Value, error) {
	m := stageLine.FindSubmatch(stderr)
	if m == nil {
		return nil, fmt.Errorf("no start stages line in the VMM's stderr:\n%s", stderr)
	}
	var vals []benchfmt.Value
	prev := mono0
	for _, kv := range strings.Fields(string(m[1])) {
		name, v, _ := strings.Cut(kv, "=")
		ns, _ := strconv.ParseInt(v, 10, 64)
		vals = append(vals, benchfmt.Value{Value: float64(ns-prev) / 1e6, Unit: "ms-stage-" + name})
		prev = ns
	}
	return append(vals, benchfmt.Value{Value: float64(firstNs-prev) / 1e6, Unit: "ms-stage-byte"}), nil
}

// monotonicNs reads CLOCK_MONOTONIC, the clock of the VMM's stage line.
func monotonicNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// bareStart starts the bare ironvisor-vmm on the tiny guest: "unjailed"
// as it is; "bare-netns" cloned into a new network namespace;
// "bare-5ns" into the jail's five namespaces; "bare-5ns-cgroup" also into
// a cgroup leaf with the jail's limits.
func bareStart(path, kernel, log string, round int) (time.Duration, []benchfmt.Value, error) {
	cmd := exec.Command(l1VMM, "run", "--kernel", kernel, "--mem", strconv.Itoa(tinyMemMiB)+"M")
	leaf := ""
	switch path {
	case "bare-netns":
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	case "bare-5ns":
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: jailNS, Setsid: true}
	case "bare-5ns-cgroup":
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: jailNS, Setsid: true}
		leaf = filepath.Join(prodCgroup, fmt.Sprintf("bare-%d", round))
	}
	d, mono0, stderr, err := cmdStart(cmd, log, leaf)
	if err != nil {
		return 0, nil, err
	}
	stages, err := startStages(stderr, mono0, mono0+int64(d))
	return d, stages, err
}

// qemuCommand is QEMU microvm on the tiny guest (as tinyArgv), cloned into
// the jail's namespaces, in its own session, as prodQEMUID.
func qemuCommand(kernel string) *exec.Cmd {
	argv := tinyArgv(kernel)["qemu"]
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: jailNS,
		Setsid:     true,
		Credential: &syscall.Credential{Uid: prodQEMUID, Gid: prodQEMUID},
	}
	return cmd
}

// cmdStart runs cmd with its stdout on the file log, in a new cgroup leaf
// with the jail's limits for the tiny guest when leaf is not "", and
// returns the time from just before the fork to the first byte in log,
// the fork's CLOCK_MONOTONIC time and the process's standard error.
func cmdStart(cmd *exec.Cmd, log, leaf string) (time.Duration, int64, []byte, error) {
	w, err := watchFirstByte(log)
	if err != nil {
		return 0, 0, nil, err
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		w.close()
		return 0, 0, nil, err
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Env = f, &stderr, supervisor.VMMEnv
	if leaf != "" {
		cg, err := limitedLeaf(leaf)
		if err != nil {
			w.close()
			return 0, 0, nil, err
		}
		defer os.Remove(leaf)
		defer cg.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	t0, mono0 := time.Now(), monotonicNs()
	if err := cmd.Start(); err != nil {
		w.close()
		return 0, 0, nil, err
	}
	at, err := w.wait()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return at.Sub(t0), mono0, stderr.Bytes(), err
}

// limitedLeaf makes the cgroup leaf with the limits jail.Start gives the
// tiny guest's VMM (memory, one CPU, pids) and returns it open.
func limitedLeaf(leaf string) (*os.File, error) {
	parent := filepath.Dir(leaf)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Dir(parent), parent} {
		if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0); err != nil {
			return nil, fmt.Errorf("enable controllers in %s: %w", d, err)
		}
	}
	if err := os.Mkdir(leaf, 0o755); err != nil {
		return nil, err
	}
	for _, l := range [][2]string{
		{"memory.max", strconv.FormatInt(jail.MemoryBudget(tinyMemMiB<<20), 10)},
		{"memory.oom.group", "1"},
		{"cpu.max", "100000 100000"},
		{"pids.max", strconv.FormatInt(jail.PidsBudget(1), 10)},
	} {
		if err := os.WriteFile(filepath.Join(leaf, l[0]), []byte(l[1]), 0); err != nil {
			os.Remove(leaf)
			return nil, fmt.Errorf("%s: %w", l[0], err)
		}
	}
	return os.Open(leaf)
}

// firstByte watches a console file for its first byte.
type firstByte struct {
	fd   int
	path string
}

// watchFirstByte creates the empty file path and watches it.
func watchFirstByte(path string) (*firstByte, error) {
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	return &firstByte{fd: fd, path: path}, nil
}

func (w *firstByte) close() { unix.Close(w.fd) }

// wait returns the time of the first modification after which the file
// is not empty (an O_TRUNC open modifies it too), within coldDeadline.
func (w *firstByte) wait() (time.Time, error) {
	defer w.close()
	deadline := time.Now().Add(coldDeadline)
	buf := make([]byte, 4096)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return time.Time{}, fmt.Errorf("no console byte in %s within %v", w.path, coldDeadline)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		if _, err := unix.Read(w.fd, buf); err != nil {
			return time.Time{}, err
		}
		at := time.Now()
		if fi, err := os.Stat(w.path); err == nil && fi.Size() > 0 {
			return at, nil
		}
	}
}
