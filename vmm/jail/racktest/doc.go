// Package racktest runs the vmm/jail tests inside a virtual-rack server:
// the host kernel booted from an initramfs, with a pure cgroup v2 hierarchy
// (so the memory.max and cpu.max checks and the OOM test run, which a
// cgroup v1 host skips) and the initramfs as root (so the jail's fallback
// for a rootfs that pivot_root refuses is exercised, as on the appliance).
// It has only tests.
package racktest
