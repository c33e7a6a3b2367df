package config

// KeyTestHook is ironvisor.test_hook: a fault the rack tests inject into
// a booted appliance. It is read from the kernel command line only (never
// from a JSON file), so a production config cannot turn it on by
// accident.
const KeyTestHook = "ironvisor.test_hook"

// TestHookFreezePID1 freezes PID 1 once the appliance is ready (the
// cgroup v2 freezer stops every thread of it, as SIGSTOP would stop any
// other process; the kernel ignores SIGSTOP for PID 1), so that the
// hardware watchdog, no longer petted, must reset the box.
const TestHookFreezePID1 = "freeze-pid1"

// validateTestHook reports a test hook the appliance does not have.
func (c Config) validateTestHook(bad func(key, value, reason string)) {
	if c.TestHook != "" && c.TestHook != TestHookFreezePID1 {
		bad(KeyTestHook, c.TestHook, "the only test hook is "+TestHookFreezePID1)
	}
}
