package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
)

// runBenchRun implements `ivbuild bench-run`: it boots the server of `make
// run` N times in a row, each from a fresh state (the default tmpfs data),
// through the same watched boot as `ivbuild run`, checks that its API
// answers, and prints the "## make run reliability" section of
// docs/benchmarks.md on stdout.
func runBenchRun(args []string) int {
	fs := flag.NewFlagSet("bench-run", flag.ExitOnError)
	dir := fs.String("artefacts", ".cache/out", "artefacts folder")
	n := fs.Int("n", 30, "boots")
	logs := fs.String("logs", ".cache/bench-run", "folder for the console logs (the stalled ones are kept)")
	f := runFlags{timeout: 10 * time.Minute, memory: 2048, cpus: 2, retries: 1}
	fs.DurationVar(&f.stall, "stall", 2*time.Minute, "as ivbuild run -stall")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: ivbuild bench-run [-n N] [-artefacts DIR]\n\nBoots the `make run` server N times from a fresh state and checks that its\nAPI answers each time; prints a markdown section with the times to the\nAPI, the stalls and their retries.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if err := benchRun(*dir, *logs, *n, f); err != nil {
		fmt.Fprintln(os.Stderr, "ivbuild bench-run:", err)
		return 1
	}
	return 0
}

// benchRun boots n servers in turn and prints the section.
func benchRun(dir, logs string, n int, f runFlags) error {
	set, err := artefacts.Load(dir)
	if err != nil {
		return err
	}
	commit := gitCommit() // before the boots: the tree may move during a long run
	var times []time.Duration
	var stalls, failures []string
	for i := range n {
		o := rack.Options{
			Name: fmt.Sprintf("run%02d", i+1), Kernel: set.HostKernel.Vmlinuz(), Initrds: []string{set.InitramfsPath()},
			Append: "console=ttyS0", MemoryMiB: f.memory, CPUs: f.cpus, LogDir: logs,
		}
		d, st, err := benchRunOnce(o, f)
		for _, s := range st {
			stalls = append(stalls, fmt.Sprintf("boot %d: %s", i+1, s))
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("boot %d: %s", i+1, firstLine(err.Error())))
			logf("boot %d of %d: FAILED: %v", i+1, n, err)
			continue
		}
		times = append(times, d)
		logf("boot %d of %d: API answered after %.1fs (%d stalls)", i+1, n, d.Seconds(), len(st))
	}
	slices.Sort(times)
	fmt.Printf("## make run reliability\n\n")
	fmt.Printf("`IVBUILD=.cache/bin/ivbuild bash build/bench/makerun.sh` (`ivbuild bench-run -n %d`), %s, commit %s, on %s: the server of `make run` (2 vCPUs, 2 GiB, TCG with nested SVM) booted %d times in a row, each from a fresh state, watched as `make run` watches it (a console quiet for %v is a stall: the boot is started once more).\n\n",
		n, time.Now().UTC().Format("2006-01-02"), commit, hostName(), n, f.stall)
	fmt.Printf("| boots | reached the API | stalls (retried) | failed | time to API p50 | p90 | max |\n|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d | %d | %s | %s | %s |\n\n", n, len(times), len(stalls), len(failures),
		pct(times, 50), pct(times, 90), pct(times, 100))
	for _, s := range append(stalls, failures...) {
		fmt.Printf("- %s\n", s)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d boots did not reach the API", len(failures), n)
	}
	return nil
}

// benchRunOnce boots one server, checks GET / of its API over HTTPS and
// stops it. It returns the time from QEMU's start to the API's answer.
func benchRunOnce(o rack.Options, f runFlags) (time.Duration, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*f.timeout)
	defer cancel()
	start := time.Now()
	b, err := bootWatched(ctx, o, f)
	if err != nil {
		return 0, b.stalls, err
	}
	defer b.srv.Stop()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} // an answer is all that is checked
	resp, err := c.Get("https://" + b.srv.Addr(8080) + "/v1/host")
	if err != nil {
		return 0, b.stalls, fmt.Errorf("API: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusOK {
		return 0, b.stalls, fmt.Errorf("API: GET /v1/host without a token: %s", resp.Status)
	}
	return time.Since(start), b.stalls, nil
}

// pct returns the p-th percentile (nearest rank) of sorted durations.
func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (p*len(sorted) + 99) / 100
	return fmt.Sprintf("%.1f s", sorted[max(i-1, 0)].Seconds())
}

// firstLine returns s up to its first line end.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// hostName names the machine for the report.
func hostName() string {
	h, _ := os.Hostname()
	return filepath.Base(h)
}

// gitCommit returns the short commit of the working tree, or "unknown".
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
