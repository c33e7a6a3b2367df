package config

import "strings"

// KeyTestHook is ironvisor.test_hook: a fault the rack tests inject into
// a booted appliance, for tests only. It is read from the kernel command
// line only (never from a JSON file or the config URL), so a production
// configuration cannot turn it on by accident.
const KeyTestHook = "ironvisor.test_hook"

// TestHookFreezePID1 freezes PID 1 once the appliance is ready (the
// cgroup v2 freezer stops every thread of it, as SIGSTOP would stop any
// other process; the kernel ignores SIGSTOP for PID 1), so that the
// hardware watchdog, no longer petted, must reset the box.
const TestHookFreezePID1 = "freeze-pid1"

// TestHookUnhealthy keeps the control plane's health check failing (the
// API still serves), so that a trial boot of a new slot never becomes
// healthy and reboots at its deadline: the rack test of the rollback of a
// build whose PID 1 runs but never becomes healthy.
const TestHookUnhealthy = "unhealthy"

// testHooks are the hooks the appliance has.
var testHooks = []string{TestHookFreezePID1, TestHookUnhealthy}

// validateTestHook reports a test hook the appliance does not have.
func (c Config) validateTestHook(bad func(key, value, reason string)) {
	if c.TestHook == "" {
		return
	}
	for _, h := range testHooks {
		if c.TestHook == h {
			return
		}
	}
	bad(KeyTestHook, c.TestHook, "test hooks are "+strings.Join(testHooks, ", "))
}
