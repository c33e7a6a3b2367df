package boot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/config"
)

// freezeCgroup is the cgroup the freeze-pid1 test hook moves PID 1 into.
const freezeCgroup = "/sys/fs/cgroup/ironvisor-test-freeze"

// runTestHook runs the fault ironvisor.test_hook asks for, once the
// appliance is ready: freeze-pid1 moves PID 1 (every thread) into a new
// cgroup and freezes it (cgroup v2 cgroup.freeze). PID 1 then runs no
// more, like a stopped process, and the hardware watchdog is no longer
// petted. Nothing else turns it on: the key is read from the kernel
// command line only.
func (a *appliance) runTestHook() {
	if a.cfg.TestHook != config.TestHookFreezePID1 {
		return
	}
	fmt.Fprintf(a.o.Console, "IRONVISOR TEST HOOK %s: freezing PID 1; the hardware watchdog must reset the box\n", a.cfg.TestHook)
	if err := freezePID1(freezeCgroup); err != nil {
		a.tl.Fail("test-hook", err)
	}
}

// freezePID1 moves PID 1 into the cgroup dir and freezes it. The write
// to cgroup.freeze returns; the threads stop on their way back to user
// space.
func freezePID1(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("freeze pid 1: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("1"), 0); err != nil {
		return fmt.Errorf("freeze pid 1: move: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0); err != nil {
		return fmt.Errorf("freeze pid 1: %w", err)
	}
	return nil
}
