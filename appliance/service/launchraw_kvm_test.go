//go:build rack

// The two arms of the launch-rate benchmark (issue 14, goal 5): launches
// through the API and the same starts through the supervisor alone. Both
// need real VMMs (hardware KVM, or PVM for the tiny guest), so they are
// compiled only with the rack tag.

package service

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/supervisor"
)

// leanBinaries returns the ironvisor binary to serve with and the lean VMM
// binary its supervisor runs (supervisor.DefaultBinary: ironvisor-vmm
// beside the running executable): in the rack /bin/ironvisor and
// /bin/ironvisor-vmm; elsewhere both built from the tree into one
// temporary directory, so that the service runs the lean VMM there too.
func leanBinaries(t *testing.T) (bin, vmm string) {
	t.Helper()
	bin, vmm = rackIronvisor, filepath.Join(filepath.Dir(rackIronvisor), supervisor.VMMBinaryName)
	if _, err := os.Stat(vmm); err == nil {
		return bin, vmm
	}
	dir := t.TempDir()
	bin, vmm = filepath.Join(dir, "ironvisor"), filepath.Join(dir, supervisor.VMMBinaryName)
	for out, pkg := range map[string]string{bin: "cmd/ironvisor", vmm: "cmd/ironvisor-vmm"} {
		b, err := exec.Command("go", "build", "-o", out, "github.com/ironvisor/ironvisor/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return bin, vmm
}

// armResult is one arm's run of the sustained phase: its wall time, and
// per launch that reached running the time from the start of the launch to
// running (up) and the time the stop and removal took (down).
type armResult struct {
	elapsed  time.Duration
	up, down []time.Duration
}

// rate returns launches that reached running per second of wall time.
func (r armResult) rate() float64 { return float64(len(r.up)) / r.elapsed.Seconds() }

// runWorkers runs launches calls of launch on workers goroutines (each
// takes the next number until none is left) and gathers their times. It
// fails with the first error and the count of failures.
func runWorkers(launches, workers int, launch func(n int) (up, down time.Duration, err error)) (armResult, error) {
	next := make(chan int, launches)
	for n := range launches {
		next <- n
	}
	close(next)
	var (
		mu     sync.Mutex
		r      armResult
		failed []error
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				up, down, err := launch(n)
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					r.up, r.down = append(r.up, up), append(r.down, down)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	if len(failed) > 0 {
		return r, fmt.Errorf("%d of %d launches failed, first: %w", len(failed), launches, failed[0])
	}
	return r, nil
}

// apiLaunch is the API arm's launch: instance q through the API to
// running (launchToRunning), then its terminate.
func apiLaunch(ctx context.Context, c *apiv1.Client, q apiv1.LaunchRequest) func(int) (time.Duration, time.Duration, error) {
	return func(int) (time.Duration, time.Duration, error) {
		id, up, err := launchToRunning(ctx, c, q)
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		err = terminate(ctx, c, id)
		return up, time.Since(t0), err
	}
}

// rawLauncher starts the same VMMs as the service without it: its own
// supervisor with the options the service's runner uses (newRunner), the
// same VMM binary, the same jail, the nano type's vCPUs and memory.
type rawLauncher struct {
	sup            *supervisor.Supervisor
	kernel, consol string
}

// nanoMem is the memory of the nano instance type.
const nanoMem = 64 << 20

// newRawLauncher returns a rawLauncher of the tiny guest kernel that runs
// vmm, with its state under a temporary directory, its VMMs' cgroup leaves
// under cgroupParent ("" means the jail's default, as the service's).
func newRawLauncher(t *testing.T, vmm, kernel, cgroupParent string) *rawLauncher {
	t.Helper()
	dir := t.TempDir()
	sup, err := supervisor.New(supervisor.Options{
		StateDir: filepath.Join(dir, "vmm"), Binary: vmm, UID: vmmUID, GID: vmmGID, Unlimited: true,
		CgroupParent: cgroupParent,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rawLauncher{sup: sup, kernel: kernel, consol: dir}
}

// launch starts the VMM of instance "raw-ROUND-N" and waits until the
// supervisor's Start returns, which is when the service calls an instance
// running; then it stops it by force and forgets its files, as a terminate
// does.
func (r *rawLauncher) launch(ctx context.Context, round int) func(int) (time.Duration, time.Duration, error) {
	return func(n int) (time.Duration, time.Duration, error) {
		id := fmt.Sprintf("raw-%d-%d", round, n)
		t0 := time.Now()
		err := r.start(ctx, id)
		up := time.Since(t0)
		if err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		err = r.end(ctx, id)
		return up, time.Since(t1), err
	}
}

// start starts the VMM of instance id (a nano instance of the tiny guest)
// and returns when the supervisor's Start does.
func (r *rawLauncher) start(ctx context.Context, id string) error {
	return r.sup.Start(ctx, supervisor.RunSpec{
		ID: id, VCPUs: 1, MemBytes: nanoMem, Kernel: r.kernel, Cmdline: "console=ttyS0",
		ConsoleLog: r.console(id),
	})
}

// console returns the path of instance id's console log.
func (r *rawLauncher) console(id string) string { return filepath.Join(r.consol, id+".log") }

// end stops the VMM of instance id by force and removes its files, as a
// terminate does.
func (r *rawLauncher) end(ctx context.Context, id string) error {
	if err := r.sup.Stop(ctx, id, true); err != nil {
		return err
	}
	if err := r.sup.Forget(id); err != nil {
		return err
	}
	return os.Remove(r.console(id))
}

// pooled returns every arm's times of one kind, sorted.
func pooled(arms []armResult, f func(armResult) []time.Duration) []time.Duration {
	var all []time.Duration
	for _, a := range arms {
		all = append(all, f(a)...)
	}
	slices.Sort(all)
	return all
}

// mean returns the mean of d in milliseconds.
func mean(d []time.Duration) float64 {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return float64(sum.Microseconds()) / 1000 / float64(max(len(d), 1))
}

// medianOf returns the middle of v (the lower middle for an even count).
func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
